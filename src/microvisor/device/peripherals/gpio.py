"""GPIO ports A-I: mode, data, set/reset and lock registers, pin-level events and host inputs."""

from __future__ import annotations

import logging
import threading

from ..bus import DeviceContext
from ._base import WordRegisters, merge

log = logging.getLogger(__name__)

GPIOA_BASE = 0x4202_0000  # non-secure alias; ports are 1 KiB apart
PORT_STRIDE = 0x400
PORTS = "ABCDEFGHI"

# The user LED of the reference board (PA5).
USER_LED_PORT = "A"
USER_LED_PIN = 5

MODER = 0x00
OTYPER = 0x04
OSPEEDR = 0x08
PUPDR = 0x0C
IDR = 0x10
ODR = 0x14
BSRR = 0x18
LCKR = 0x1C
AFRL = 0x20
AFRH = 0x24
BRR = 0x28
HSLVR = 0x2C
SECCFGR = 0x30

MODE_INPUT, MODE_OUTPUT, MODE_ALTERNATE, MODE_ANALOG = 0, 1, 2, 3
PULL_UP, PULL_DOWN = 1, 2
LCKR_LCKK = 1 << 16

_STORED = (MODER, OTYPER, OSPEEDR, PUPDR, AFRL, AFRH, HSLVR, SECCFGR)
# Reset values that differ from MODER=all analog, everything else 0 (the debug pins of A and B).
_PORT_RESET = {
    "A": {MODER: 0xABFF_FFFF, OSPEEDR: 0x0C00_0000, PUPDR: 0x6400_0000},
    "B": {MODER: 0xFFFF_FEBF, OSPEEDR: 0x0000_00C0, PUPDR: 0x0000_0100},
}


def _spread(pins: int, value: int) -> int:
    """A MODER-style word holding the 2-bit `value` at every pin of the mask `pins`."""
    out = 0
    for pin in range(16):
        if pins >> pin & 1:
            out |= value << (2 * pin)
    return out


def _pins_with(field_reg: int, wanted: int) -> int:
    """Pins whose 2-bit field in a MODER/PUPDR-style register equals `wanted`."""
    pins = 0
    for pin in range(16):
        if (field_reg >> (2 * pin)) & 3 == wanted:
            pins |= 1 << pin
    return pins


class GpioPort(WordRegisters):
    """One GPIO port: 16 pins; output levels are reported as ("gpio", "pin") events."""

    size = 0x400

    def __init__(self, ctx: DeviceContext, port: str):
        super().__init__(ctx)
        if port not in PORTS:
            raise ValueError(f"no GPIO port {port!r} (A..I)")
        self.port = port
        self.name = f"GPIO{port}"
        self.base = GPIOA_BASE + PORTS.index(port) * PORT_STRIDE
        self._host_lock = threading.Lock()
        self._host_levels = 0  # levels the host drives on pins it drives
        self._host_driven = 0  # which pins the host drives
        self.reset()

    # --- host side ----------------------------------------------------------------------------
    def set_input(self, pin: int, level: int | bool | None) -> None:
        """Drive `pin` from outside at `level` (None: stop driving, the pull decides)."""
        if not 0 <= pin < 16:
            raise ValueError(f"no pin {pin} on port {self.port} (0..15)")
        bit = 1 << pin
        with self._host_lock:
            if level is None:
                self._host_driven &= ~bit
                self._host_levels &= ~bit
            else:
                self._host_driven |= bit
                if level:
                    self._host_levels |= bit
                else:
                    self._host_levels &= ~bit

    def output_level(self, pin: int) -> int | None:
        """The level the port drives on `pin`, or None when the pin is not an output."""
        if not self._output_pins() >> pin & 1:
            return None
        return self._odr >> pin & 1

    # --- bus side -----------------------------------------------------------------------------
    def reset(self) -> None:
        self._regs = {reg: 0 for reg in _STORED}
        self._regs[MODER] = 0xFFFF_FFFF
        self._regs.update(_PORT_RESET.get(self.port, {}))
        self._odr = 0
        self._locked = 0  # pins whose configuration is frozen
        self._lock_active = False
        self._lock_step = 0
        self._lock_key = 0

    def read_word(self, offset: int) -> int:
        if offset == IDR:
            return self._idr()
        if offset == ODR:
            return self._odr
        if offset == LCKR:
            return (LCKR_LCKK | self._locked) if self._lock_active else self._lock_key
        return self._regs.get(offset, 0)  # BSRR and BRR are write-only and read 0

    def write_word(self, offset: int, value: int, mask: int) -> None:
        if offset in (ODR, BSRR, BRR, MODER):
            before_out, before_odr = self._output_pins(), self._odr
            if offset == ODR:
                self._odr = merge(self._odr, value, mask) & 0xFFFF
            elif offset == BSRR:
                sets, resets = value & 0xFFFF, (value >> 16) & 0xFFFF
                self._odr = (self._odr & ~resets | sets) & 0xFFFF  # set wins over reset
            elif offset == BRR:
                self._odr &= ~value & 0xFFFF
            else:
                self._write_config(offset, value, mask)
            self._report_outputs(before_out, before_odr)
        elif offset == LCKR:
            self._write_lock(merge(0, value, mask))
        elif offset in _STORED:
            self._write_config(offset, value, mask)

    # --- internals ----------------------------------------------------------------------------
    def _write_config(self, offset: int, value: int, mask: int) -> None:
        new = merge(self._regs[offset], value, mask)
        frozen = self._frozen_bits(offset)
        self._regs[offset] = (self._regs[offset] & frozen) | (new & ~frozen & 0xFFFF_FFFF)

    def _frozen_bits(self, offset: int) -> int:
        if not self._locked or offset == SECCFGR:
            return 0
        if offset in (MODER, OSPEEDR, PUPDR):
            return _spread(self._locked, 3)
        if offset in (OTYPER, HSLVR):
            return self._locked
        first = 0 if offset == AFRL else 8
        return sum(0xF << (4 * (pin - first)) for pin in range(first, first + 8)
                   if self._locked >> pin & 1)

    def _write_lock(self, value: int) -> None:
        """The lock sequence: LCKK=1, LCKK=0, LCKK=1, each with the same pin mask."""
        if self._lock_active:
            return  # frozen until the next reset
        key, lckk = value & 0xFFFF, bool(value & LCKR_LCKK)
        step = self._lock_step
        if step and key == self._lock_key and lckk == (step == 2):
            if step == 2:
                self._locked, self._lock_active, self._lock_step = key, True, 0
                log.debug("%s: configuration of pins %#06x locked", self.name, key)
            else:
                self._lock_step = 2
            return
        self._lock_key, self._lock_step = key, (1 if lckk else 0)

    def _output_pins(self) -> int:
        return _pins_with(self._regs[MODER], MODE_OUTPUT)

    def _idr(self) -> int:
        moder, pupdr = self._regs[MODER], self._regs[PUPDR]
        outputs = _pins_with(moder, MODE_OUTPUT)
        analog = _pins_with(moder, MODE_ANALOG)
        pulled_up = _pins_with(pupdr, PULL_UP)
        driven, levels = self._host_driven, self._host_levels
        outside = (levels & driven) | (pulled_up & ~driven)
        return ((self._odr & outputs) | (outside & ~outputs & ~analog)) & 0xFFFF

    def _report_outputs(self, before_out: int, before_odr: int) -> None:
        outputs = self._output_pins()
        changed = (outputs & ~before_out) | (outputs & (self._odr ^ before_odr))
        for pin in range(16):
            if changed >> pin & 1:
                level = self._odr >> pin & 1
                log.debug("P%s%d -> %d", self.port, pin, level)
                self.ctx.events.emit("gpio", "pin", port=self.port, pin=pin, level=level)
