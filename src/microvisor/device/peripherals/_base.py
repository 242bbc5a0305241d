"""Word-register peripherals: byte and half-word accesses folded into 32-bit register accesses."""

from __future__ import annotations

from ..bus import DeviceContext, Peripheral

WORD_MASK = 0xFFFF_FFFF


class WordRegisters(Peripheral):
    """A peripheral whose registers are 32-bit words at 4-byte aligned offsets.

    Subclasses implement `read_word(offset)` and `write_word(offset, value, mask)`, where `mask`
    has ones on the byte lanes the access wrote and `value` is already shifted into those lanes.
    """

    def __init__(self, ctx: DeviceContext):
        super().__init__(ctx)
        self._irq_level: dict[int, bool] = {}

    def read(self, offset: int, size: int) -> int:
        word = self.read_word(offset & ~3)
        return (word >> ((offset & 3) * 8)) & ((1 << (size * 8)) - 1)

    def write(self, offset: int, size: int, value: int) -> None:
        shift = (offset & 3) * 8
        mask = (((1 << (size * 8)) - 1) << shift) & WORD_MASK
        self.write_word(offset & ~3, (value << shift) & mask, mask)

    def read_word(self, offset: int) -> int:
        raise NotImplementedError

    def write_word(self, offset: int, value: int, mask: int) -> None:
        raise NotImplementedError

    def drive_irq(self, irqn: int, level: bool, force: bool = False) -> None:
        """Drive NVIC line `irqn` to `level`, telling the device only about changes.

        Lines start released; `force` re-drives a level the device may have forgotten (a reset).
        """
        if force or self._irq_level.get(irqn, False) != level:
            self._irq_level[irqn] = level
            self.ctx.set_irq(irqn, level)


def merge(old: int, value: int, mask: int) -> int:
    """The register value after writing `value` on the lanes in `mask` over `old`."""
    return (old & ~mask & WORD_MASK) | (value & mask)
