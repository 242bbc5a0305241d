"""The first system calls: time and clocks, device ID, server logging, peripheral peek/poke."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ..common.mv_abi import (
    DEVICE_ID_LENGTH,
    LOG_BUFFER_ALIGNMENT,
    LOG_BUFFER_MIN_SIZE,
    LOG_BUFFER_SIZE_MULTIPLE,
    MvStatus,
)
from ..device.memory_map import CORE_HZ, is_app_memory, is_app_ram
from ..device.nsc import CallContext

if TYPE_CHECKING:
    from .microvisor import Microvisor

LOG_MESSAGE_MAX = 128  # bytes in one mvServerLog message
RCC_BASE, RCC_SIZE = 0x4602_0C00, 0x400  # the registers mvPeriphPeek32/Poke32 may touch


def install(kernel: Microvisor) -> Calls:
    """Register every handler of this module with the kernel's device."""
    calls = Calls(kernel)
    table = kernel.device.syscalls
    for name in ("mvNoOp", "mvGetMicroseconds", "mvGetSysClk", "mvGetHClk", "mvGetPClk1",
                 "mvGetPClk2", "mvGetDeviceId", "mvServerLoggingInit", "mvServerLog",
                 "mvPeriphPeek32", "mvPeriphPoke32"):
        table.register(name, getattr(calls, name))
    return calls


class Calls:
    """Handlers: each takes the call's context and returns an MvStatus."""

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self.application_started()

    def application_started(self) -> None:
        """A (re)started application has set nothing up yet."""
        self.log_buffer: tuple[int, int] | None = None

    def _write_out(self, ctx: CallContext, address: int, data: bytes) -> int:
        if not is_app_ram(address, len(data)):
            return MvStatus.PARAMETERFAULT
        ctx.write(address, data)
        return MvStatus.OKAY

    def mvNoOp(self, ctx: CallContext) -> int:
        return MvStatus.OKAY

    def mvGetMicroseconds(self, ctx: CallContext) -> int:
        return self._write_out(ctx, ctx.arg(0), struct.pack("<Q", ctx.device.clock.now_us()))

    def _clock(self, ctx: CallContext) -> int:
        return self._write_out(ctx, ctx.arg(0), struct.pack("<I", CORE_HZ))

    mvGetSysClk = mvGetHClk = mvGetPClk1 = mvGetPClk2 = _clock

    def mvGetDeviceId(self, ctx: CallContext) -> int:
        buffer, length = ctx.arg(0), ctx.arg(1)
        if length != DEVICE_ID_LENGTH:
            return MvStatus.INVALIDBUFFERSIZE
        return self._write_out(ctx, buffer, self.kernel.device_sid.encode("ascii"))

    def mvServerLoggingInit(self, ctx: CallContext) -> int:
        buffer, length = ctx.arg(0), ctx.arg(1)
        if not is_app_ram(buffer, length):
            return MvStatus.PARAMETERFAULT
        if buffer % LOG_BUFFER_ALIGNMENT:
            return MvStatus.INVALIDBUFFERALIGNMENT
        if length < LOG_BUFFER_MIN_SIZE or length % LOG_BUFFER_SIZE_MULTIPLE:
            return MvStatus.INVALIDBUFFERSIZE
        self.log_buffer = (buffer, length)
        return MvStatus.OKAY

    def mvServerLog(self, ctx: CallContext) -> int:
        message, length = ctx.arg(0), ctx.arg(1) & 0xFFFF
        if self.log_buffer is None:
            return MvStatus.UNAVAILABLE
        if not is_app_memory(message, length):
            return MvStatus.PARAMETERFAULT
        if length > LOG_MESSAGE_MAX:
            return MvStatus.LOGMESSAGETOOLONG
        self.kernel.log(ctx.read(message, length).decode("utf-8", errors="replace"))
        return MvStatus.OKAY

    def _periph_address(self, address: int) -> bool:
        return RCC_BASE <= address < RCC_BASE + RCC_SIZE and address % 4 == 0

    def mvPeriphPeek32(self, ctx: CallContext) -> int:
        register, output = ctx.arg(0), ctx.arg(1)
        if not is_app_ram(output, 4):
            return MvStatus.PARAMETERFAULT
        if not self._periph_address(register):
            return MvStatus.PERIPHERALACCESSFAULT
        ctx.write(output, struct.pack("<I", ctx.device.bus_read32(register)))
        return MvStatus.OKAY

    def mvPeriphPoke32(self, ctx: CallContext) -> int:
        register, mask, xor = ctx.arg(0), ctx.arg(1), ctx.arg(2)
        if not self._periph_address(register):
            return MvStatus.PERIPHERALACCESSFAULT
        value = ctx.device.bus_read32(register)
        ctx.device.bus_write32(register, (value & ~mask) ^ xor)  # mask: the bits to change
        return MvStatus.OKAY
