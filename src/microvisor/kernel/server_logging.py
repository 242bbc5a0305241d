"""Logging to the server: mvServerLoggingInit and mvServerLog, and the log-buffer rules they share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..common.mv_abi import (
    LOG_BUFFER_ALIGNMENT,
    LOG_BUFFER_MIN_SIZE,
    LOG_BUFFER_SIZE_MULTIPLE,
    LOG_MESSAGE_MAX,
    MvStatus,
)
from ..device.nsc import CallContext
from .guards import read_in, writable

if TYPE_CHECKING:
    from .microvisor import Microvisor


def install(kernel: Microvisor) -> ServerLogging:
    """Register this family's handlers with the kernel's device."""
    logging = ServerLogging(kernel)
    for name in ("mvServerLoggingInit", "mvServerLog"):
        kernel.device.syscalls.register(name, getattr(logging, name))
    return logging


def check_log_buffer(buffer: int, length: int) -> int:
    """The status a logging-init call gives for this buffer (OKAY when it may be used)."""
    if not writable(buffer, length):
        return MvStatus.PARAMETERFAULT
    if buffer % LOG_BUFFER_ALIGNMENT:
        return MvStatus.INVALIDBUFFERALIGNMENT
    if length < LOG_BUFFER_MIN_SIZE or length % LOG_BUFFER_SIZE_MULTIPLE:
        return MvStatus.INVALIDBUFFERSIZE
    return MvStatus.OKAY


def read_message(ctx: CallContext, message: int, length: int) -> tuple[int, str]:
    """Fetch one log message: (status, text); the text is empty unless the status is OKAY."""
    raw = read_in(ctx, message, length)
    if raw is None:
        return MvStatus.PARAMETERFAULT, ""
    if length > LOG_MESSAGE_MAX:
        return MvStatus.LOGMESSAGETOOLONG, ""
    return MvStatus.OKAY, raw.decode("utf-8", errors="replace")


class ServerLogging:
    """The application's log buffer, and whether the server has turned its logging off."""

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        # Set by the link when the service disables this device's logging; the service's setting
        # outlives application restarts.
        self.disabled_by_server = False
        self.application_started()

    def application_started(self) -> None:
        """A (re)started application has not handed over a log buffer yet."""
        self.buffer: tuple[int, int] | None = None

    def mvServerLoggingInit(self, ctx: CallContext) -> int:
        buffer, length = ctx.arg(0), ctx.arg(1)
        status = check_log_buffer(buffer, length)
        if status == MvStatus.OKAY:
            self.buffer = (buffer, length)
        return status

    def mvServerLog(self, ctx: CallContext) -> int:
        message, length = ctx.arg(0), ctx.arg(1) & 0xFFFF  # uint16_t length_bytes
        if self.buffer is None:
            return MvStatus.UNAVAILABLE
        if self.disabled_by_server:
            return MvStatus.LOGGINGDISABLEDBYSERVER
        status, text = read_message(ctx, message, length)
        if status == MvStatus.OKAY:
            self.kernel.log(text)
        return status
