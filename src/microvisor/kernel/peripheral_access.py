"""mvPeriphPeek32 and mvPeriphPoke32: the RCC registers an application may read and change."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ..common.mv_abi import MvStatus
from ..device.nsc import CallContext
from .guards import writable

if TYPE_CHECKING:
    from .microvisor import Microvisor

# The published allow-list covers RCC (the Microvisor port of ST's HAL routes RCC accesses
# through these calls and names no other peripheral). Its registers, non-secure alias:
RCC_BASE = 0x4602_0C00
_CLOCK_TREE = (  # CR, ICSCR1-3, CRRCR, CFGR1-3, PLLxCFGR/DIVR/FRACR, CIER, CIFR, CICR
    0x00, 0x08, 0x0C, 0x10, 0x14, 0x1C, 0x20, 0x24, 0x28, 0x2C, 0x30, 0x34, 0x38, 0x3C, 0x40,
    0x44, 0x48, 0x50, 0x54, 0x58)
_PERIPHERAL_CLOCKS = (  # the reset, clock-enable and sleep-enable registers of every bus
    0x60, 0x64, 0x68, 0x6C, 0x74, 0x78, 0x7C, 0x80, 0x88, 0x8C, 0x90, 0x94, 0x9C, 0xA0, 0xA4,
    0xA8, 0xB0, 0xB4, 0xB8, 0xBC, 0xC4, 0xC8, 0xCC, 0xD0)
_KERNEL_CLOCK_SELECTION = (0xE0, 0xE4, 0xE8)  # CCIPR1-3: which clock feeds each peripheral
_SYSTEM = (0xD8, 0xF0, 0xF4, 0x110, 0x114)  # SRDAMR, BDCR, CSR, SECCFGR, PRIVCFGR

# Readable registers, and the bits of each that the application may change. The microvisor
# owns the clock tree, the backup domain and the security configuration: poking those is
# accepted but changes nothing, as the header says of bits the application may not change.
READABLE = frozenset(RCC_BASE + offset for offset in
                     _CLOCK_TREE + _PERIPHERAL_CLOCKS + _KERNEL_CLOCK_SELECTION + _SYSTEM)
WRITABLE_BITS = {RCC_BASE + offset: 0xFFFF_FFFF
                 for offset in _PERIPHERAL_CLOCKS + _KERNEL_CLOCK_SELECTION}


def install(kernel: Microvisor) -> PeripheralAccess:
    """Register this family's handlers with the kernel's device."""
    access = PeripheralAccess()
    for name in ("mvPeriphPeek32", "mvPeriphPoke32"):
        kernel.device.syscalls.register(name, getattr(access, name))
    return access


class PeripheralAccess:
    """Handlers for reading and changing allowed registers of secure peripherals."""

    def application_started(self) -> None:
        """Nothing to forget."""

    def mvPeriphPeek32(self, ctx: CallContext) -> int:
        register, output = ctx.arg(0), ctx.arg(1)
        if not writable(output, 4):
            return MvStatus.PARAMETERFAULT
        if register not in READABLE:
            return MvStatus.PERIPHERALACCESSFAULT
        ctx.write(output, struct.pack("<I", ctx.device.bus_read32(register)))
        return MvStatus.OKAY

    def mvPeriphPoke32(self, ctx: CallContext) -> int:
        """*reg = (*reg & ~mask) ^ xorvalue, on the bits the application may change."""
        register, mask, xor = ctx.arg(0), ctx.arg(1), ctx.arg(2)
        if register not in READABLE:
            return MvStatus.PERIPHERALACCESSFAULT
        allowed = WRITABLE_BITS.get(register, 0)
        if allowed:
            value = ctx.device.bus_read32(register)
            wanted = (value & ~mask) ^ xor
            ctx.device.bus_write32(register, (value & ~allowed) | (wanted & allowed))
        return MvStatus.OKAY
