"""The basic system calls: no-op, the microsecond clock, clock frequencies, wall time, device ID."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ..common.mv_abi import DEVICE_ID_LENGTH, TEMPORARY_TEST_STRUCT_VERSION, VENDOR_TEST_STRUCTS, MvStatus
from ..device.memory_map import CORE_HZ
from ..device.nsc import CallContext
from .guards import read_in, read_words, writable, write_out

if TYPE_CHECKING:
    from .microvisor import Microvisor

_TEST_STRUCT_SIZE = VENDOR_TEST_STRUCTS["MvTemporaryTestVersionedStruct"][0]
_TEST_SUBSTRUCT_SIZE = VENDOR_TEST_STRUCTS["MvTemporaryTestSubStruct"][0]


def install(kernel: Microvisor) -> Calls:
    """Register every handler of this module with the kernel's device."""
    calls = Calls(kernel)
    table = kernel.device.syscalls
    for name in ("mvNoOp", "mvGetMicroseconds", "mvGetSysClk", "mvGetHClk", "mvGetPClk1",
                 "mvGetPClk2", "mvGetWallTime", "mvGetDeviceId", "mvTemporaryStructTest"):
        table.register(name, getattr(calls, name))
    return calls


class Calls:
    """Handlers: each takes the call's context and returns an MvStatus."""

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self._wall_offset_us: int | None = None  # Unix µs minus the microsecond clock, once known

    def application_started(self) -> None:
        """Nothing here belongs to the application."""

    def set_wall_time(self, unix_us: int) -> None:
        """The server told the time (µs since the Unix epoch): mvGetWallTime reports it from now."""
        self._wall_offset_us = unix_us - self.kernel.device.clock.now_us()

    def mvNoOp(self, ctx: CallContext) -> int:
        return MvStatus.OKAY

    def mvGetMicroseconds(self, ctx: CallContext) -> int:
        return self._out(ctx, ctx.arg(0), struct.pack("<Q", ctx.device.clock.now_us()))

    def _clock(self, ctx: CallContext) -> int:
        return self._out(ctx, ctx.arg(0), struct.pack("<I", CORE_HZ))

    mvGetSysClk = mvGetHClk = mvGetPClk1 = mvGetPClk2 = _clock

    def mvGetWallTime(self, ctx: CallContext) -> int:
        address = ctx.arg(0)
        if not writable(address, 8):
            return MvStatus.PARAMETERFAULT
        if self._wall_offset_us is None:
            return MvStatus.TIMENOTSET
        now = (ctx.device.clock.now_us() + self._wall_offset_us) & 0xFFFF_FFFF_FFFF_FFFF
        return self._out(ctx, address, struct.pack("<Q", now))

    def mvGetDeviceId(self, ctx: CallContext) -> int:
        buffer, length = ctx.arg(0), ctx.arg(1)
        if length != DEVICE_ID_LENGTH:
            return MvStatus.INVALIDBUFFERSIZE
        return self._out(ctx, buffer, self.kernel.device_sid.encode("ascii"))

    def mvTemporaryStructTest(self, ctx: CallContext) -> int:
        """A vendor self-test of structure passing: version 1 with a readable nested pointer."""
        raw = read_in(ctx, ctx.arg(0), _TEST_STRUCT_SIZE)
        if raw is None:
            return MvStatus.PARAMETERFAULT
        version, nested = struct.unpack_from("<I8xI", raw)
        if version != TEMPORARY_TEST_STRUCT_VERSION:
            return MvStatus.UNSUPPORTEDSTRUCTUREVERSION
        if read_words(ctx, nested, _TEST_SUBSTRUCT_SIZE // 4) is None:
            return MvStatus.PARAMETERFAULT
        return MvStatus.OKAY

    @staticmethod
    def _out(ctx: CallContext, address: int, data: bytes) -> int:
        return MvStatus.OKAY if write_out(ctx, address, data) else MvStatus.PARAMETERFAULT
