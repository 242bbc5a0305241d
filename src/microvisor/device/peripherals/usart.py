"""USART/LPUART ports: transmission is instant and seen as events; host input feeds the receiver."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from ..bus import DeviceContext
from ._base import WordRegisters, merge

log = logging.getLogger(__name__)

CR1 = 0x00
CR2 = 0x04
CR3 = 0x08
BRR = 0x0C
GTPR = 0x10
RTOR = 0x14
RQR = 0x18
ISR = 0x1C
ICR = 0x20
RDR = 0x24
TDR = 0x28
PRESC = 0x2C
AUTOCR = 0x30

CR1_UE = 1 << 0
CR1_RE = 1 << 2
CR1_TE = 1 << 3
CR1_IDLEIE = 1 << 4
CR1_RXNEIE = 1 << 5  # RXFNEIE in FIFO mode
CR1_TCIE = 1 << 6
CR1_TXEIE = 1 << 7  # TXFNFIE in FIFO mode
CR1_FIFOEN = 1 << 29
CR3_EIE = 1 << 0

ISR_ORE = 1 << 3
ISR_IDLE = 1 << 4
ISR_RXNE = 1 << 5  # RXFNE
ISR_TC = 1 << 6
ISR_TXE = 1 << 7  # TXFNF
ISR_TEACK = 1 << 21
ISR_REACK = 1 << 22
ISR_TXFE = 1 << 23

ICR_ORECF = 1 << 3
ICR_IDLECF = 1 << 4
ICR_TCCF = 1 << 6
RQR_RXFRQ = 1 << 3

RX_QUEUE_LIMIT = 64 * 1024  # bytes the host may queue before the receiver overruns
LINE_LIMIT = 4096  # a line this long is reported even without its newline

_STORED = (CR1, CR2, CR3, BRR, GTPR, RTOR, PRESC, AUTOCR)


@dataclass(frozen=True)
class UsartSpec:
    """Where a serial port sits: its name, non-secure base address and NVIC line."""

    name: str
    base: int
    irq: int


USART1 = UsartSpec("USART1", 0x4001_3800, 61)
USART2 = UsartSpec("USART2", 0x4000_4400, 62)
USART3 = UsartSpec("USART3", 0x4000_4800, 63)
LPUART1 = UsartSpec("LPUART1", 0x4600_2400, 66)
SERIAL_PORTS = (USART1, USART2, USART3, LPUART1)


class Usart(WordRegisters):
    """One USART (or LPUART): 8-bit data, no baud-rate timing, an unbounded-enough receive queue."""

    size = 0x400

    def __init__(self, ctx: DeviceContext, spec: UsartSpec):
        super().__init__(ctx)
        self.name, self.base, self.irq = spec.name, spec.base, spec.irq
        self._rx: deque[int] = deque()  # host input survives a reset of the device
        self.reset()

    # --- host side ----------------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        """Bytes arriving on the RX line (safe from any thread)."""
        chunk = bytes(data)
        if chunk:
            self.ctx.post(lambda: self._enqueue(chunk))

    # --- bus side -----------------------------------------------------------------------------
    def reset(self) -> None:
        self._regs = {reg: 0 for reg in _STORED}
        self._rdr = 0
        self._ore = self._idle = False
        self._tc = True
        self._line = bytearray()
        self.drive_irq(self.irq, False)

    def read(self, offset: int, size: int) -> int:
        if offset == RDR and self._rx_ready():
            self._rdr = self._rx.popleft()
            if not self._rx:
                self._idle = True  # the line falls idle once the burst has been read
            self._update_irq()
        return super().read(offset, size)

    def read_word(self, offset: int) -> int:
        if offset == ISR:
            return self._isr()
        if offset == RDR:
            return self._rdr
        return self._regs.get(offset, 0)  # RQR, ICR and TDR read 0

    def write_word(self, offset: int, value: int, mask: int) -> None:
        if offset == TDR:
            if mask & 0xFF:
                self._transmit(value & 0xFF)
        elif offset == ICR:
            if value & ICR_ORECF:
                self._ore = False
            if value & ICR_IDLECF:
                self._idle = False
            if value & ICR_TCCF:
                self._tc = False
        elif offset == RQR:
            if value & RQR_RXFRQ and self._rx_ready():
                self._rx.popleft()
        elif offset in _STORED:
            self._regs[offset] = merge(self._regs[offset], value, mask)
        self._update_irq()

    # --- internals ----------------------------------------------------------------------------
    def _enabled(self, bit: int) -> bool:
        cr1 = self._regs[CR1]
        return bool(cr1 & CR1_UE and cr1 & bit)

    def _rx_ready(self) -> bool:
        return bool(self._rx) and self._enabled(CR1_RE)

    def _isr(self) -> int:
        isr = ISR_TXE
        if self._tc:
            isr |= ISR_TC
        if self._rx_ready():
            isr |= ISR_RXNE
        if self._ore:
            isr |= ISR_ORE
        if self._idle:
            isr |= ISR_IDLE
        if self._enabled(CR1_TE):
            isr |= ISR_TEACK
        if self._enabled(CR1_RE):
            isr |= ISR_REACK
        if self._regs[CR1] & CR1_FIFOEN:
            isr |= ISR_TXFE
        return isr

    def _enqueue(self, chunk: bytes) -> None:
        room = RX_QUEUE_LIMIT - len(self._rx)
        if len(chunk) > room:
            log.warning("%s: receive queue full, %d bytes lost", self.name, len(chunk) - room)
            self._ore = True
            chunk = chunk[:max(room, 0)]
        self._rx.extend(chunk)
        self._idle = False
        self._update_irq()

    def _transmit(self, byte: int) -> None:
        if not self._enabled(CR1_TE):
            log.debug("%s: byte %#04x written with the transmitter off, dropped", self.name, byte)
            return
        self._tc = True
        self.ctx.events.emit("uart", "tx", port=self.name, data=bytes([byte]))
        if byte == 0x0A or len(self._line) >= LINE_LIMIT:
            if byte != 0x0A:
                self._line.append(byte)
            text = self._line.decode("utf-8", errors="replace").rstrip("\r")
            self._line.clear()
            self.ctx.events.emit("uart", "line", port=self.name, text=text)
        else:
            self._line.append(byte)

    def _update_irq(self) -> None:
        cr1, isr = self._regs[CR1], self._isr()
        level = bool(
            (isr & ISR_RXNE and cr1 & CR1_RXNEIE)
            or (isr & ISR_TXE and cr1 & CR1_TXEIE)
            or (isr & ISR_TC and cr1 & CR1_TCIE)
            or (isr & ISR_IDLE and cr1 & CR1_IDLEIE)
            or (isr & ISR_ORE and (cr1 & CR1_RXNEIE or self._regs[CR3] & CR3_EIE))
        )
        self.drive_irq(self.irq, level)
