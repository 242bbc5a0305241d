"""The application's partition of the external QSPI flash: the mvExternalFlash* calls."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ..common.mv_abi import (
    EXTERNAL_FLASH_ERASE_ALIGNMENT,
    EXTERNAL_FLASH_INFO_VERSION,
    MAX_EXTERNAL_FLASH_HANDLES,
    MvStatus,
    pack_struct,
    struct_size,
)
from ..device.flash_layout import APP_PARTITION
from ..device.nsc import CallContext
from ..device.qspi import QSPI_BLOCK_SIZE, QspiFlash
from .guards import in_interrupt, read_in, writable, write_word
from .handles import HandleTable, close_handle

if TYPE_CHECKING:
    from .microvisor import Microvisor

def install(kernel: Microvisor) -> ExternalFlash:
    """Register this family's handlers with the kernel's device."""
    flash = ExternalFlash(kernel)
    for name in ("mvExternalFlashOpen", "mvExternalFlashClose", "mvExternalFlashGetInfo",
                 "mvExternalFlashReadBlocking", "mvExternalFlashEraseBlocking",
                 "mvExternalFlashWriteBlocking"):
        kernel.device.syscalls.register(name, getattr(flash, name))
    return flash


def chip_id(qspi: QspiFlash) -> int:
    """The JEDEC ID as one number, manufacturer first: C2 85 3A reads 0x00C2853A."""
    return int.from_bytes(qspi.jedec_id, "big")


class ExternalFlash:
    """Handlers for the application's QSPI partition. Addresses count from the partition's start.

    Every erase and program goes through the device's QspiFlash, so it obeys NOR rules and is
    counted like any other flash write (power-cut tests rely on it). A write programs whole
    256-byte pages as the chip does: bits only go from 1 to 0, so writing over data that was not
    erased leaves the AND of old and new, as on the real part.
    """

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self.handles: HandleTable[None] = HandleTable()

    def application_started(self) -> None:
        self.handles.clear()

    @property
    def _qspi(self) -> QspiFlash:
        return self.kernel.device.state.qspi

    def _refuse(self, ctx: CallContext, handle: int) -> int | None:
        if in_interrupt(ctx):
            return MvStatus.UNAVAILABLE
        if handle not in self.handles:
            return MvStatus.INVALIDHANDLE
        return None

    @staticmethod
    def _in_partition(address: int, length: int) -> bool:
        return address + length <= APP_PARTITION.size

    # --- handles ------------------------------------------------------------------------------
    def mvExternalFlashOpen(self, ctx: CallContext) -> int:
        handle_out = ctx.arg(0)
        if in_interrupt(ctx):
            return MvStatus.UNAVAILABLE
        if not writable(handle_out, 4):
            return MvStatus.PARAMETERFAULT
        if len(self.handles) >= MAX_EXTERNAL_FLASH_HANDLES:
            return MvStatus.TOOMANYCHANNELS
        write_word(ctx, handle_out, self.handles.add(None))
        return MvStatus.OKAY

    def mvExternalFlashClose(self, ctx: CallContext) -> int:
        pointer = ctx.arg(0)
        if in_interrupt(ctx):
            return MvStatus.UNAVAILABLE
        return close_handle(ctx, pointer, self.handles)

    def mvExternalFlashGetInfo(self, ctx: CallContext) -> int:
        handle, info = ctx.arg(0), ctx.arg(1)
        refusal = self._refuse(ctx, handle)
        if refusal is not None:
            return refusal
        if not writable(info, struct_size("MvExternalFlashInfo")):
            return MvStatus.PARAMETERFAULT
        (version,) = struct.unpack("<I", ctx.read(info, 4))
        if version != EXTERNAL_FLASH_INFO_VERSION:
            return MvStatus.UNSUPPORTEDSTRUCTUREVERSION
        ctx.write(info, pack_struct("MvExternalFlashInfo", {
            "version": version, "v1.chip_id": chip_id(self._qspi), "v1.size": APP_PARTITION.size,
            "v1.num_handles": len(self.handles)}))
        return MvStatus.OKAY

    # --- data ---------------------------------------------------------------------------------
    def mvExternalFlashReadBlocking(self, ctx: CallContext) -> int:
        handle, address, length, buffer = ctx.arg(0), ctx.arg(1), ctx.arg(2), ctx.arg(3)
        refusal = self._refuse(ctx, handle)
        if refusal is not None:
            return refusal
        if not writable(buffer, length):
            return MvStatus.PARAMETERFAULT
        if not self._in_partition(address, length):
            return MvStatus.ADDRESSOUTOFRANGE
        if length:
            ctx.write(buffer, self._qspi.read(APP_PARTITION.offset + address, length))
        return MvStatus.OKAY

    def mvExternalFlashEraseBlocking(self, ctx: CallContext) -> int:
        """Erase whole 4 KiB sectors; 64 KiB blocks at once where the span allows, as a driver would."""
        handle, address, length = ctx.arg(0), ctx.arg(1), ctx.arg(2)
        refusal = self._refuse(ctx, handle)
        if refusal is not None:
            return refusal
        if not self._in_partition(address, length):
            return MvStatus.ADDRESSOUTOFRANGE
        if address % EXTERNAL_FLASH_ERASE_ALIGNMENT or length % EXTERNAL_FLASH_ERASE_ALIGNMENT:
            return MvStatus.INVALIDBUFFERALIGNMENT
        qspi = self._qspi
        position, end = APP_PARTITION.offset + address, APP_PARTITION.offset + address + length
        while position < end:
            if position % QSPI_BLOCK_SIZE == 0 and end - position >= QSPI_BLOCK_SIZE:
                qspi.erase_block(position // QSPI_BLOCK_SIZE)
                position += QSPI_BLOCK_SIZE
            else:
                qspi.erase_sector(position // qspi.sector_size)
                position += qspi.sector_size
        return MvStatus.OKAY

    def mvExternalFlashWriteBlocking(self, ctx: CallContext) -> int:
        handle, address, length, buffer = ctx.arg(0), ctx.arg(1), ctx.arg(2), ctx.arg(3)
        refusal = self._refuse(ctx, handle)
        if refusal is not None:
            return refusal
        data = read_in(ctx, buffer, length)
        if data is None:
            return MvStatus.PARAMETERFAULT
        if not self._in_partition(address, length):
            return MvStatus.ADDRESSOUTOFRANGE
        if length:
            offset = APP_PARTITION.offset + address
            old = self._qspi.read(offset, length)
            programmed = (int.from_bytes(old, "little") & int.from_bytes(data, "little"))
            self._qspi.program_pages(offset, programmed.to_bytes(length, "little"))
        return MvStatus.OKAY
