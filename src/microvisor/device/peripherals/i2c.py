"""I2C1..I2C4 controllers in master mode: a bus on which nothing answers unless a target is attached."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from ..bus import DeviceContext
from ._base import WordRegisters, merge

log = logging.getLogger(__name__)

# Registers (RM0456, I2C).
CR1 = 0x00
CR2 = 0x04
OAR1 = 0x08
OAR2 = 0x0C
TIMINGR = 0x10
TIMEOUTR = 0x14
ISR = 0x18
ICR = 0x1C
PECR = 0x20
RXDR = 0x24
TXDR = 0x28
AUTOCR = 0x2C

CR1_PE = 1 << 0
CR1_TXIE = 1 << 1
CR1_RXIE = 1 << 2
CR1_ADDRIE = 1 << 3
CR1_NACKIE = 1 << 4
CR1_STOPIE = 1 << 5
CR1_TCIE = 1 << 6
CR1_ERRIE = 1 << 7

CR2_SADD = 0x3FF
CR2_RD_WRN = 1 << 10
CR2_ADD10 = 1 << 11
CR2_START = 1 << 13
CR2_STOP = 1 << 14
CR2_NBYTES_SHIFT = 16
CR2_NBYTES = 0xFF << CR2_NBYTES_SHIFT
CR2_RELOAD = 1 << 24
CR2_AUTOEND = 1 << 25

ISR_TXE = 1 << 0
ISR_TXIS = 1 << 1
ISR_RXNE = 1 << 2
ISR_ADDR = 1 << 3
ISR_NACKF = 1 << 4
ISR_STOPF = 1 << 5
ISR_TC = 1 << 6
ISR_TCR = 1 << 7
ISR_BERR = 1 << 8
ISR_ARLO = 1 << 9
ISR_OVR = 1 << 10
ISR_PECERR = 1 << 11
ISR_TIMEOUT = 1 << 12
ISR_ALERT = 1 << 13
ISR_BUSY = 1 << 15
ISR_ERRORS = ISR_BERR | ISR_ARLO | ISR_OVR | ISR_PECERR | ISR_TIMEOUT | ISR_ALERT
# ICR: writing 1 clears the ISR flag at the same bit (ADDR, NACKF, STOPF and the errors).
ICR_CLEARS = ISR_ADDR | ISR_NACKF | ISR_STOPF | ISR_ERRORS

_STORED = (CR1, CR2, OAR1, OAR2, TIMINGR, TIMEOUTR, AUTOCR)


@dataclass(frozen=True)
class I2cSpec:
    """Where an I2C controller sits: name, non-secure base and its event and error NVIC lines."""

    name: str
    base: int
    ev_irq: int
    er_irq: int


I2C1 = I2cSpec("I2C1", 0x4000_5400, 55, 56)
I2C2 = I2cSpec("I2C2", 0x4000_5800, 57, 58)
I2C3 = I2cSpec("I2C3", 0x4600_2800, 88, 89)
I2C4 = I2cSpec("I2C4", 0x4000_8400, 101, 100)
I2C_BUSES = (I2C1, I2C2, I2C3, I2C4)


class I2cTarget(Protocol):
    """A device on the bus at some address, as the controller's master sees it."""

    def addressed(self, read: bool) -> bool:
        """A START (or repeated START) named this target for a read or a write: True to ACK."""

    def write(self, byte: int) -> bool:
        """The master sent `byte`: True to ACK it, False to NACK (the master then stops)."""

    def read(self) -> int:
        """The master clocks in one byte from the target."""

    def stop(self) -> None:
        """A STOP ended the transaction."""


class I2c(WordRegisters):
    """One I2C controller, master mode only; every transfer completes at once in virtual time.

    A START names a 7- or 10-bit address; a target attached at that address (`attach`) ACKs or
    NACKs it and its bytes, and with none there the address is NACKed as on a real bus with nobody
    listening: NACKF, then the STOP the controller sends after a NACK (STOPF), BUSY released. Data
    bytes move as soon as TXDR is written or RXDR read; NBYTES, RELOAD (TCR) and AUTOEND (STOP, or
    TC waiting for software's STOP or repeated START) behave as RM0456 describes. Slave mode,
    SMBus, PEC, timeouts and bus errors are not modelled (their flags never rise).
    """

    size = 0x400

    def __init__(self, ctx: DeviceContext, spec: I2cSpec):
        super().__init__(ctx)
        self.name, self.base = spec.name, spec.base
        self.ev_irq, self.er_irq = spec.ev_irq, spec.er_irq
        self._targets: dict[tuple[int, bool], I2cTarget] = {}  # plugged in: survive a reset
        self.reset()

    # --- host side ----------------------------------------------------------------------------
    def attach(self, address: int, target: I2cTarget, ten_bit: bool = False) -> None:
        """Plug `target` in at `address` (7-bit unless `ten_bit`); from the emulation thread."""
        limit = 0x3FF if ten_bit else 0x7F
        if not 0 <= address <= limit:
            raise ValueError(f"{self.name}: address {address:#x} out of range")
        self._targets[(address, ten_bit)] = target

    def detach(self, address: int, ten_bit: bool = False) -> None:
        self._targets.pop((address, ten_bit), None)

    # --- bus side -----------------------------------------------------------------------------
    def reset(self) -> None:
        self._regs = {reg: 0 for reg in _STORED}
        self._txdr: int | None = None  # the byte waiting in TXDR (None: TXE)
        self._txdr_last = 0
        self._rxdr: int | None = None  # the byte waiting in RXDR (None: RXNE clear)
        self._rxdr_last = 0
        self._clear_transfer()
        self._flags = 0  # NACKF, STOPF and the error flags
        self._update_irq(force=True)

    def _clear_transfer(self) -> None:
        self._target: I2cTarget | None = None
        self._active = False  # addressed and acknowledged: bytes may move
        self._busy = False  # between our START and STOP
        self._reading = False
        self._remaining = 0
        self._tc = self._tcr = False

    def read(self, offset: int, size: int) -> int:
        value = super().read(offset, size)
        if offset & ~3 == RXDR and self._rxdr is not None:
            self._rxdr = None
            self._pump()
            self._update_irq()
        return value

    def read_word(self, offset: int) -> int:
        if offset == ISR:
            return self._isr()
        if offset == RXDR:
            return self._rxdr if self._rxdr is not None else self._rxdr_last
        if offset == TXDR:
            return self._txdr_last
        return self._regs.get(offset, 0)  # ICR and PECR read 0

    def write_word(self, offset: int, value: int, mask: int) -> None:
        if offset == CR1:
            self._write_cr1(merge(self._regs[CR1], value, mask))
        elif offset == CR2:
            self._write_cr2(merge(self._regs[CR2], value, mask))
        elif offset == ISR:
            if value & ISR_TXE:  # software flushes TXDR
                self._txdr = None
        elif offset == ICR:
            self._flags &= ~(value & ICR_CLEARS)
        elif offset == TXDR:
            if mask & 0xFF and self._enabled():
                self._txdr = self._txdr_last = value & 0xFF
                self._pump()
        elif offset in _STORED:
            self._regs[offset] = merge(self._regs[offset], value, mask)
        self._update_irq()

    # --- the controller -----------------------------------------------------------------------
    def _enabled(self) -> bool:
        return bool(self._regs[CR1] & CR1_PE)

    def _write_cr1(self, cr1: int) -> None:
        was_enabled = self._enabled()
        self._regs[CR1] = cr1
        if was_enabled and not cr1 & CR1_PE:  # PE=0 is a software reset of the controller
            if self._target is not None and self._busy:
                self._target.stop()
            self._clear_transfer()
            self._txdr = self._rxdr = None
            self._flags = 0
            self._regs[CR2] &= ~(CR2_START | CR2_STOP)

    def _write_cr2(self, cr2: int) -> None:
        reload = self._tcr and not cr2 & (CR2_START | CR2_STOP)
        self._regs[CR2] = cr2
        if not self._enabled():
            self._regs[CR2] &= ~(CR2_START | CR2_STOP)
            return
        if cr2 & CR2_START:
            self._regs[CR2] &= ~(CR2_START | CR2_STOP)
            self._start()
        elif cr2 & CR2_STOP:
            self._regs[CR2] &= ~CR2_STOP
            if self._busy:
                self._stop()
        elif reload:  # new NBYTES after TCR: the transfer goes on
            self._tcr = False
            self._remaining = self._nbytes()
            self._pump()

    def _nbytes(self) -> int:
        return (self._regs[CR2] & CR2_NBYTES) >> CR2_NBYTES_SHIFT

    def _start(self) -> None:
        """A START (or repeated START): send the address, ACKed only by an attached target."""
        cr2 = self._regs[CR2]
        ten_bit = bool(cr2 & CR2_ADD10)
        address = cr2 & CR2_SADD if ten_bit else (cr2 & CR2_SADD) >> 1 & 0x7F
        self._reading = bool(cr2 & CR2_RD_WRN)
        self._tc = self._tcr = False
        self._busy = True
        target = self._targets.get((address, ten_bit))
        if self._active and self._target is not None and self._target is not target:
            self._target.stop()  # a repeated START to someone else ends the previous target's turn
        self._active = False
        self._target = target
        if self._target is None or not self._target.addressed(self._reading):
            log.debug("%s: address %#x not acknowledged", self.name, address)
            self._nack()
            return
        self._active = True
        self._remaining = self._nbytes()
        self._pump()

    def _pump(self) -> None:
        """Move every byte that can move now, then end the count if it is done."""
        if not self._active or self._tc or self._tcr:
            return
        target = self._target
        assert target is not None
        if self._reading:
            if self._rxdr is None and self._remaining > 0:
                self._rxdr = self._rxdr_last = target.read() & 0xFF
                self._remaining -= 1
            if self._remaining == 0:
                self._end_of_count()
            return
        while self._remaining > 0 and self._txdr is not None:
            byte, self._txdr = self._txdr, None
            self._remaining -= 1
            if not target.write(byte):
                self._nack()
                return
        if self._remaining == 0:
            self._end_of_count()

    def _end_of_count(self) -> None:
        cr2 = self._regs[CR2]
        if cr2 & CR2_RELOAD:
            self._tcr = True
        elif cr2 & CR2_AUTOEND:
            self._stop()
        else:
            self._tc = True

    def _nack(self) -> None:
        """Not acknowledged: NACKF, and the master sends a STOP by itself."""
        self._flags |= ISR_NACKF
        self._stop()

    def _stop(self) -> None:
        if self._target is not None and self._active:
            self._target.stop()
        self._clear_transfer()
        self._flags |= ISR_STOPF

    def _isr(self) -> int:
        isr = self._flags
        if self._txdr is None:
            isr |= ISR_TXE
            if self._active and not self._reading and self._remaining > 0 and not self._tcr:
                isr |= ISR_TXIS
        if self._rxdr is not None:
            isr |= ISR_RXNE
        if self._tc:
            isr |= ISR_TC
        if self._tcr:
            isr |= ISR_TCR
        if self._busy:
            isr |= ISR_BUSY
        return isr

    def _update_irq(self, force: bool = False) -> None:
        cr1, isr = self._regs[CR1], self._isr()
        event = bool(
            (isr & ISR_TXIS and cr1 & CR1_TXIE)
            or (isr & ISR_RXNE and cr1 & CR1_RXIE)
            or (isr & ISR_ADDR and cr1 & CR1_ADDRIE)
            or (isr & ISR_NACKF and cr1 & CR1_NACKIE)
            or (isr & ISR_STOPF and cr1 & CR1_STOPIE)
            or (isr & (ISR_TC | ISR_TCR) and cr1 & CR1_TCIE)
        )
        error = bool(isr & ISR_ERRORS and cr1 & CR1_ERRIE)
        self.drive_irq(self.ev_irq, event, force)
        self.drive_irq(self.er_irq, error, force)
