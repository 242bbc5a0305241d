"""The peripheral bus: what a memory-mapped peripheral is and what the device offers it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .clock import VirtualClock


@dataclass(frozen=True)
class DeviceEvent:
    """Something observable that happened on the device, stamped with virtual time."""

    time_ns: int
    source: str  # "gpio", "uart", "irq", "log", "fault", "power", ...
    kind: str  # "pin", "tx", "pend", "line", ...
    data: dict[str, Any] = field(default_factory=dict)


class EventBus:
    """Fan-out of device events to subscribers (the CLI's printer, tests, the kernel)."""

    def __init__(self, clock: VirtualClock):
        self._clock = clock
        self._subscribers: list[Callable[[DeviceEvent], None]] = []

    def subscribe(self, callback: Callable[[DeviceEvent], None]) -> None:
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[DeviceEvent], None]) -> None:
        self._subscribers.remove(callback)

    def emit(self, source: str, kind: str, **data: Any) -> None:
        event = DeviceEvent(self._clock.now_ns(), source, kind, data)
        for callback in list(self._subscribers):
            callback(event)


class DeviceContext(Protocol):
    """What the device offers its peripherals."""

    clock: VirtualClock
    events: EventBus

    def set_irq(self, irqn: int, level: bool = True) -> None:
        """Drive external interrupt line `irqn`: True asserts it (pends the IRQ), False releases it."""

    def post(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the emulation thread as soon as possible (safe from any thread)."""

    def watchdog_expired(self, detail: str) -> None:
        """The independent watchdog ran out: the application is reset (a crash of its own kind)."""


class Peripheral:
    """A memory-mapped peripheral: a register window the CPU reads and writes.

    Subclasses set `name`, `base` and `size` (a multiple of 1 KiB), and implement `read`/`write`
    for 1-, 2- and 4-byte accesses at `offset` from `base`. Registers are little-endian.
    """

    name: str = "peripheral"
    base: int = 0
    size: int = 0x400

    def __init__(self, ctx: DeviceContext):
        self.ctx = ctx

    def read(self, offset: int, size: int) -> int:
        raise NotImplementedError

    def write(self, offset: int, size: int, value: int) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Return to the power-on state (called at every reset)."""


class RegisterFile(Peripheral):
    """A block of plain 32-bit registers: writes are kept, reads return them (reset values given)."""

    def __init__(self, ctx: DeviceContext, name: str, base: int, size: int = 0x400,
                 reset_values: dict[int, int] | None = None):
        super().__init__(ctx)
        self.name, self.base, self.size = name, base, size
        self._reset_values = dict(reset_values or {})
        self.regs: dict[int, int] = dict(self._reset_values)

    def reset(self) -> None:
        self.regs = dict(self._reset_values)

    def read(self, offset: int, size: int) -> int:
        word = self.regs.get(offset & ~3, 0)
        shift = (offset & 3) * 8
        return (word >> shift) & ((1 << (size * 8)) - 1)

    def write(self, offset: int, size: int, value: int) -> None:
        aligned, shift = offset & ~3, (offset & 3) * 8
        mask = ((1 << (size * 8)) - 1) << shift
        old = self.regs.get(aligned, 0)
        self.regs[aligned] = (old & ~mask) | ((value << shift) & mask)
