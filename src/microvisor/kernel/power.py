"""Power and restarts: mvRestart, mvGetWakeReason, mvPowerSave and mvDeepSleep."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..common.mv_abi import MvDeepSleepMode, MvPowerSavingMode, MvRestartMode, MvStatus, MvWakeReason
from ..device.low_power import SHUTDOWN, STANDBY
from ..device.nsc import CallContext
from .guards import enum_writable, write_enum

if TYPE_CHECKING:
    from .microvisor import Microvisor

# How the device's reset reasons read as wake reasons (a restart the kernel made says its own).
RESET_WAKE_REASONS = {
    "power-on": MvWakeReason.COLDBOOT,
    "sysresetreq": MvWakeReason.REMOTEAPPLICATIONRESTART,
    "debugger": MvWakeReason.DEBUGGERRESTART,
    f"{STANDBY}-rtc": MvWakeReason.DEEPSLEEPAPPLICATIONRTC,
    f"{STANDBY}-pin": MvWakeReason.DEEPSLEEPAPPLICATION,
    f"{SHUTDOWN}-rtc": MvWakeReason.COLDBOOT,
    f"{SHUTDOWN}-pin": MvWakeReason.COLDBOOT,
}
_DEEP_SLEEP_MODES = {MvDeepSleepMode.STANDBY: STANDBY, MvDeepSleepMode.SHUTDOWN: SHUTDOWN}


def install(kernel: Microvisor) -> Power:
    """Register this family's handlers with the kernel's device."""
    power = Power(kernel)
    for name in ("mvRestart", "mvGetWakeReason", "mvPowerSave", "mvDeepSleep"):
        kernel.device.syscalls.register(name, getattr(power, name))
    return power


def _in_interrupt(ctx: CallContext) -> bool:
    return ctx.device.cpu.ipsr != 0


class Power:
    """Handlers for restarts, wake reasons and low-power modes. What they do:

    - mvRestart(AUTOAPPLYUPDATE) restarts the application at once (the whole device through the
      ROM when an update is staged: kernel/fota.py); mvGetWakeReason then reports
      Microvisor.RESTART_WAKE_REASON (REMOTEAPPLICATIONRESTART: the published enum has no reason
      of its own for a restart the application asked for). The loader reports an applied update
      with Microvisor.set_boot_wake_reason(APPLICATIONUPDATE).
    - mvPowerSave(mode) puts the core to sleep as WFI does, from the call's return until an
      interrupt that may wake it is pending; it then returns OKAY. SLEEP and STOP0..STOP3 behave
      alike here: the model does not gate the high-speed clocks in the STOP modes, so an
      application that wants a quiet STOP suspends SysTick and its timers itself, as with the HAL.
    - mvDeepSleep(mode) never returns: STANDBY or SHUTDOWN (device/low_power.py) loses SRAM and
      the peripherals' state, and the application restarts cold when the RTC wake-up timer or a
      wake pin armed beforehand fires. After Standby mvGetWakeReason reports DEEPSLEEPAPPLICATIONRTC
      (RTC wake-up timer) or DEEPSLEEPAPPLICATION (a wake pin: a wake-up source the application
      owns); after Shutdown it reports COLDBOOT, as the published header says of that mode.
    - Every call of this family returns UNAVAILABLE from an interrupt handler and PARAMETERFAULT
      for an unknown mode, as the published header documents. MICROVISORBUSY (network still
      active) is not returned: the network is not modelled yet.
    """

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel

    def application_started(self) -> None:
        """Nothing to forget: the modes are entered per call."""

    def mvRestart(self, ctx: CallContext) -> int:
        if _in_interrupt(ctx):
            return MvStatus.UNAVAILABLE
        if ctx.arg(0) != MvRestartMode.AUTOAPPLYUPDATE:
            return MvStatus.PARAMETERFAULT
        if self.kernel.fota.apply_if_ready():  # an update is staged: restart through the ROM
            return MvStatus.OKAY
        self.kernel.restart_application(self.kernel.RESTART_WAKE_REASON)
        return MvStatus.OKAY

    def mvGetWakeReason(self, ctx: CallContext) -> int:
        if _in_interrupt(ctx):
            return MvStatus.UNAVAILABLE
        address = ctx.arg(0)
        if not enum_writable(address, "MvWakeReason"):
            return MvStatus.PARAMETERFAULT
        write_enum(ctx, address, "MvWakeReason", self.kernel.wake_reason)
        return MvStatus.OKAY

    def mvPowerSave(self, ctx: CallContext) -> int:
        if _in_interrupt(ctx):
            return MvStatus.UNAVAILABLE
        mode = ctx.arg(0)
        if mode not in MvPowerSavingMode._value2member_map_:
            return MvStatus.PARAMETERFAULT
        ctx.device.events.emit("kernel", "power-save", mode=MvPowerSavingMode(mode).name)
        ctx.device.wait_for_interrupt()
        return MvStatus.OKAY

    def mvDeepSleep(self, ctx: CallContext) -> int:
        if _in_interrupt(ctx):
            return MvStatus.UNAVAILABLE
        mode = ctx.arg(0)
        if mode not in _DEEP_SLEEP_MODES:
            return MvStatus.PARAMETERFAULT
        ctx.device.events.emit("kernel", "deep-sleep", mode=MvDeepSleepMode(mode).name)
        ctx.device.low_power.enter(_DEEP_SLEEP_MODES[MvDeepSleepMode(mode)])
        return MvStatus.OKAY
