"""Restarts and wake reasons: mvRestart and mvGetWakeReason."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..common.mv_abi import MvRestartMode, MvStatus
from ..device.memory_map import is_app_ram
from ..device.nsc import CallContext

if TYPE_CHECKING:
    from .microvisor import Microvisor


def install(kernel: Microvisor) -> Power:
    """Register this family's handlers with the kernel's device."""
    power = Power(kernel)
    for name in ("mvRestart", "mvGetWakeReason"):
        kernel.device.syscalls.register(name, getattr(power, name))
    return power


class Power:
    """Handlers for restarts and wake reasons."""

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel

    def application_started(self) -> None:
        """Nothing to forget yet."""

    def mvRestart(self, ctx: CallContext) -> int:
        if ctx.arg(0) != MvRestartMode.AUTOAPPLYUPDATE:
            return MvStatus.UNAVAILABLE
        self.kernel.restart_application(self.kernel.RESTART_WAKE_REASON)
        return MvStatus.OKAY

    def mvGetWakeReason(self, ctx: CallContext) -> int:
        address = ctx.arg(0)
        if not is_app_ram(address, 1):
            return MvStatus.PARAMETERFAULT
        ctx.write(address, bytes([self.kernel.wake_reason]))
        return MvStatus.OKAY
