"""The microvisor on one device: plugs its system calls in, keeps the wake reason, carries logs out."""

from __future__ import annotations

import logging

from ..common.mv_abi import MvStatus, MvWakeReason
from ..common.sids import device_sid
from ..device.bus import DeviceEvent
from ..device.clock import Timer
from ..device.machine import Device
from ..device.nsc import CallContext
from . import calls, channels, config_channel, crashes, fota, http_channel, link, network, power, remote_debug
from . import (
    app_testing,
    external_flash,
    fast_interrupts,
    mqtt_channel,
    notifications,
    peripheral_access,
    server_logging,
    system_led,
    system_notifications,
    wifi,
)
from .storage import KernelStorage

log = logging.getLogger(__name__)


class Microvisor:
    """The kernel bound to a device: owns the system calls and the application's restarts."""

    # What mvGetWakeReason reports after the application asked for a restart with mvRestart.
    RESTART_WAKE_REASON = MvWakeReason.REMOTEAPPLICATIONRESTART
    BACKOFF = "restart back-off"  # why the CPU is parked between a crash and its restart

    def __init__(self, device: Device, stop_on_crash: bool = True):
        self.device = device
        # True: `device.run` returns "crash" at every crash (the report is kept and the restart
        # already scheduled: running on restarts the application after the back-off).
        # False: `run` carries on through crashes and restarts, as a fielded device does.
        self.stop_on_crash = stop_on_crash
        self._restart_timer: Timer | None = None
        self._boot_wake_reason: MvWakeReason | None = None
        self.device_sid = device_sid(device.state.option_bytes.chip_uid)
        self.wake_reason = MvWakeReason.COLDBOOT
        self._pending_wake_reason: MvWakeReason | None = None
        self._reported_unavailable: set[str] = set()
        self.storage = KernelStorage(device.state)
        device.syscalls.fallback = self._unavailable
        self.calls = calls.install(self)
        # Every family of system calls: install(kernel) registers its handlers and returns an
        # object whose application_started() forgets what the previous application set up.
        self.families = [self.calls, power.install(self)]
        # The families that need no network; other kernel code reaches some of them by name.
        self.notifications = notifications.install(self)
        self.system_notifications = system_notifications.install(self)
        self.server_logging = server_logging.install(self)
        self.fast_interrupts = fast_interrupts.install(self)
        self.external_flash = external_flash.install(self)
        self.app_testing = app_testing.install(self)
        self.families += [self.notifications, self.system_notifications, self.server_logging,
                          self.fast_interrupts, self.external_flash, self.app_testing,
                          peripheral_access.install(self), system_led.install(self), wifi.install(self)]
        self.app_body = None  # the running application's AppManifest.AppBody (policies), if any
        self.app_manifest_hash: str | None = None
        self.no_application_reason: str | None = None
        self.kernel_version: dict | None = None  # the ROM-verified manifest's meta, when booted by the ROM
        self.crashes = crashes.Crashes(self)
        device.events.subscribe(self._on_event)
        # The link to the service and what travels over it (idle on a device with no broker).
        self.network = network.install(self)
        self.channels = channels.install(self)  # the application's channels, and each type's calls
        http_channel.install(self, self.channels)
        config_channel.install(self, self.channels)
        mqtt_channel.install(self, self.channels)
        self.fota = fota.install(self)
        self.remote_debug = remote_debug.RemoteDebug(self)
        self.link = link.install(self)
        self.families += [self.network, self.channels, self.fota, self.link]
        self.link.start()

    def reboot(self, why: str) -> None:
        """Restart the whole device through the boot ROM: `device.run` returns "reboot"."""
        log.info("rebooting (%s)", why)
        self.device.events.emit("kernel", "reboot", why=why)
        self.device.stop("reboot")

    def close(self) -> None:
        """Power is going: close the link."""
        self.link.close()

    def log(self, text: str) -> None:
        """A line from mvServerLog: onto the device's event stream (the host's output for now)."""
        self.device.events.emit("log", "line", text=text)

    def set_boot_wake_reason(self, reason: MvWakeReason) -> None:
        """The wake reason the application will see after the next reset (e.g. after an update).

        A restart the kernel makes itself (after a crash, for mvRestart) reports its own reason
        instead; either way this one is spent by that next reset.
        """
        self._boot_wake_reason = reason

    def restart_application(self, reason: MvWakeReason, after_ms: int = 0) -> None:
        """Restart the application from its reset vector, now or after `after_ms` (CPU parked)."""
        self._cancel_restart()
        self.device.events.emit("kernel", "restart", after_ms=after_ms, reason=reason.name)
        if after_ms <= 0:
            self._restart_now(reason)
            return
        self.device.park(self.BACKOFF)
        self._restart_timer = self.device.clock.schedule_in(
            after_ms * 1_000_000, lambda: self._restart_now(reason))

    def _restart_now(self, reason: MvWakeReason) -> None:
        self._restart_timer = None
        self._pending_wake_reason = reason
        if self.device.parked == self.BACKOFF:
            self.device.unpark()
        self.device.request_reset("restart")

    def _cancel_restart(self) -> None:
        if self._restart_timer is not None:
            self._restart_timer.cancel()
            self._restart_timer = None
            if self.device.parked == self.BACKOFF:
                self.device.unpark()

    def _on_event(self, event: DeviceEvent) -> None:
        if event.source == "power" and event.kind == "reset":
            reason = event.data.get("reason", "")
            if reason != "restart":
                self._cancel_restart()  # a reset from outside overtakes a scheduled restart
            if self._pending_wake_reason is not None:
                self.wake_reason, self._pending_wake_reason = self._pending_wake_reason, None
            elif self._boot_wake_reason is not None:
                self.wake_reason = self._boot_wake_reason
            else:
                self.wake_reason = power.RESET_WAKE_REASONS.get(reason, self.wake_reason)
            self._boot_wake_reason = None
            self.storage.put(last_wake_reason=self.wake_reason.name)
            self.crashes.application_started(self.wake_reason)
            for family in self.families:
                family.application_started()

    def _unavailable(self, ctx: CallContext) -> int:
        name = ctx.spec.name
        if name not in self._reported_unavailable:
            self._reported_unavailable.add(name)
            log.warning("%s is not implemented yet: returning MV_STATUS_UNAVAILABLE", name)
            self.device.events.emit("kernel", "unavailable", call=name)
        return MvStatus.UNAVAILABLE
