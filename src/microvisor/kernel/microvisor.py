"""The microvisor on one device: plugs its system calls in, keeps the wake reason, carries logs out."""

from __future__ import annotations

import logging

from ..common.mv_abi import MvStatus, MvWakeReason
from ..common.sids import device_sid
from ..device.bus import DeviceEvent
from ..device.machine import Device
from ..device.nsc import CallContext
from . import calls, power
from .storage import KernelStorage

log = logging.getLogger(__name__)


class Microvisor:
    """The kernel bound to a device: owns the system calls and the application's restarts."""

    # What mvGetWakeReason reports after the application asked for a restart with mvRestart.
    RESTART_WAKE_REASON = MvWakeReason.REMOTEAPPLICATIONRESTART

    def __init__(self, device: Device):
        self.device = device
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
        self.app_body = None  # the running application's AppManifest.AppBody (policies), if any
        device.events.subscribe(self._on_event)

    def log(self, text: str) -> None:
        """A line from mvServerLog: onto the device's event stream (the host's output for now)."""
        self.device.events.emit("log", "line", text=text)

    def restart_application(self, reason: MvWakeReason) -> None:
        self._pending_wake_reason = reason
        self.device.request_reset("restart")

    def _on_event(self, event: DeviceEvent) -> None:
        if event.source == "power" and event.kind == "reset":
            for family in self.families:
                family.application_started()
            reason = event.data.get("reason")
            if self._pending_wake_reason is not None:
                self.wake_reason, self._pending_wake_reason = self._pending_wake_reason, None
            elif reason == "power-on":
                self.wake_reason = MvWakeReason.COLDBOOT
            elif reason == "sysresetreq":
                self.wake_reason = MvWakeReason.REMOTEAPPLICATIONRESTART

    def _unavailable(self, ctx: CallContext) -> int:
        name = ctx.spec.name
        if name not in self._reported_unavailable:
            self._reported_unavailable.add(name)
            log.warning("%s is not implemented yet: returning MV_STATUS_UNAVAILABLE", name)
            self.device.events.emit("kernel", "unavailable", call=name)
        return MvStatus.UNAVAILABLE
