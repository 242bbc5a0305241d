"""mvSystemLedEnable: the application may switch the microvisor's status LED off to save power."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..common.mv_abi import MvStatus
from ..device.nsc import CallContext
from .guards import in_interrupt

if TYPE_CHECKING:
    from .microvisor import Microvisor


def install(kernel: Microvisor) -> SystemLed:
    """Register this family's handler with the kernel's device."""
    led = SystemLed(kernel)
    kernel.device.syscalls.register("mvSystemLedEnable", led.mvSystemLedEnable)
    return led


class SystemLed:
    """Whether the system LED may show the microvisor's state; each change is a device event."""

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self.enabled = True

    def application_started(self) -> None:
        """The LED is the microvisor's again until the new application says otherwise."""
        self._set(True)

    def _set(self, enabled: bool) -> None:
        if enabled != self.enabled:
            self.enabled = enabled
            self.kernel.device.events.emit("kernel", "system-led", enabled=enabled)

    def mvSystemLedEnable(self, ctx: CallContext) -> int:
        """0 switches the LED off, 1 back on; other values are reserved (refused, like an
        unknown mode given to mvDeepSleep, with PARAMETERFAULT)."""
        enable = ctx.arg(0)
        if in_interrupt(ctx):
            return MvStatus.UNAVAILABLE
        if enable not in (0, 1):
            return MvStatus.PARAMETERFAULT
        self._set(bool(enable))
        return MvStatus.OKAY
