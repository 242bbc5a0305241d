"""Application testing in the factory: mvTestingComplete, mvTestLoggingInit and mvTestLog."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..common.mv_abi import MvStatus
from ..device.nsc import CallContext
from .server_logging import check_log_buffer, read_message

if TYPE_CHECKING:
    from .microvisor import Microvisor


def install(kernel: Microvisor) -> AppTesting:
    """Register this family's handlers with the kernel's device."""
    testing = AppTesting(kernel)
    for name in ("mvTestingComplete", "mvTestLoggingInit", "mvTestLog"):
        kernel.device.syscalls.register(name, getattr(testing, name))
    return testing


class AppTesting:
    """Only a device in factory mode runs application testing code; elsewhere these are UNAVAILABLE.

    mvTestingComplete stops the testing code (the CPU is parked until the next reset, when it
    runs again) and reports the result as a ("kernel", "testing-complete", result=...) event; 0
    means success, any other value failure. Test log lines are ("log", "test", text=...) events:
    they go to the provisioning console, not to the server.
    """

    PARKED = "application testing complete"

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self.result: int | None = None  # the last mvTestingComplete status
        self.application_started()

    @property
    def testing_mode(self) -> bool:
        return self.kernel.device.state.option_bytes.factory_mode

    def application_started(self) -> None:
        self.log_buffer: tuple[int, int] | None = None
        if self.kernel.device.parked == self.PARKED:
            self.kernel.device.unpark()

    def mvTestingComplete(self, ctx: CallContext) -> int:
        status = ctx.arg(0)
        if not self.testing_mode:
            return MvStatus.UNAVAILABLE
        self.result = status
        ctx.device.events.emit("kernel", "testing-complete", result=status, passed=status == 0)
        ctx.device.park(self.PARKED)
        return MvStatus.OKAY

    def mvTestLoggingInit(self, ctx: CallContext) -> int:
        buffer, length = ctx.arg(0), ctx.arg(1)
        if not self.testing_mode:
            return MvStatus.UNAVAILABLE
        status = check_log_buffer(buffer, length)
        if status == MvStatus.OKAY:
            self.log_buffer = (buffer, length)
        return status

    def mvTestLog(self, ctx: CallContext) -> int:
        message, length = ctx.arg(0), ctx.arg(1) & 0xFFFF  # uint16_t length_bytes
        if self.log_buffer is None or not self.testing_mode:
            return MvStatus.UNAVAILABLE
        status, text = read_message(ctx, message, length)
        if status == MvStatus.OKAY:
            ctx.device.events.emit("log", "test", text=text)
        return status
