"""What every system call checks in what the application hands it: pointers, alignment, IRQs, mode."""

from __future__ import annotations

import struct

from ..common.mv_abi import ENUM_VALUE_SIZES, pack_enum
from ..device.memory_map import IRQ_COUNT, is_app_memory, is_app_ram
from ..device.nsc import CallContext

_WORD = struct.Struct("<I")

# Interrupt lines of the secure world on the STM32U585 (RTC_S, FLASH_S, GTZC, RCC_S): the
# microvisor keeps them, so the application may not name them for notifications or fast IRQs.
KERNEL_IRQS = frozenset({3, 7, 8, 10})


def readable(address: int, length: int, alignment: int = 1) -> bool:
    """The application may hand the kernel [address, address + length) to read: its flash or SRAM.

    Arguments are the raw 32-bit register values, so nothing wraps: a length up to 0xFFFFFFFF
    simply does not fit. A zero length still needs a valid address.
    """
    return address % alignment == 0 and is_app_memory(address, length)


def writable(address: int, length: int, alignment: int = 1) -> bool:
    """The application may have the kernel write [address, address + length): its SRAM only."""
    return address % alignment == 0 and is_app_ram(address, length)


def read_in(ctx: CallContext, address: int, length: int) -> bytes | None:
    """The bytes at a pointer the application passed in, or None when it is not its memory."""
    if not readable(address, length):
        return None
    return ctx.read(address, length) if length else b""


def read_words(ctx: CallContext, address: int, count: int) -> tuple[int, ...] | None:
    """`count` little-endian 32-bit words of an input structure, or None for a bad pointer."""
    raw = read_in(ctx, address, 4 * count)
    return None if raw is None else struct.unpack(f"<{count}I", raw)


def write_out(ctx: CallContext, address: int, data: bytes) -> bool:
    """Write a result through an output pointer; False (nothing written) when it is not SRAM."""
    if not writable(address, len(data)):
        return False
    if data:
        ctx.write(address, data)
    return True


def write_word(ctx: CallContext, address: int, value: int) -> bool:
    return write_out(ctx, address, _WORD.pack(value & 0xFFFF_FFFF))


def enum_writable(address: int, enum: str) -> bool:
    """The application may have the kernel write one value of the header enum `enum` at address."""
    return writable(address, ENUM_VALUE_SIZES[enum])


def write_enum(ctx: CallContext, address: int, enum: str, value: int) -> bool:
    """Write a value of the header enum `enum` through an output pointer, as wide as mv_abi says."""
    return write_out(ctx, address, pack_enum(enum, value))


def app_irq(irqn: int) -> bool:
    """An external interrupt line that exists and that the microvisor does not keep for itself."""
    return 0 <= irqn < IRQ_COUNT and irqn not in KERNEL_IRQS


def in_interrupt(ctx: CallContext) -> bool:
    """The call was made from a handler (IPSR non-zero): calls that block refuse that."""
    return ctx.device.cpu.ipsr != 0
