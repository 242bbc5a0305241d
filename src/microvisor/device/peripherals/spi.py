"""SPI1..SPI3 (the STM32U5's FIFO-based SPI) as a master with nothing connected: every frame reads 0xFF."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..bus import DeviceContext, Peripheral

# Registers (RM0456, SPI).
CR1 = 0x00
CR2 = 0x04
CFG1 = 0x08
CFG2 = 0x0C
IER = 0x10
SR = 0x14
IFCR = 0x18
AUTOCR = 0x1C
TXDR = 0x20
RXDR = 0x30
CRCPOLY = 0x40
TXCRC = 0x44
RXCRC = 0x48
UDRDR = 0x4C

CR1_SPE = 1 << 0
CR1_CSTART = 1 << 9
CR1_CSUSP = 1 << 10
CR1_HDDIR = 1 << 11
CR2_TSIZE = 0xFFFF
CFG1_DSIZE = 0x1F
CFG1_FTHLV_SHIFT = 5
CFG1_FTHLV = 0xF << CFG1_FTHLV_SHIFT
CFG2_COMM_SHIFT = 17
CFG2_COMM = 3 << CFG2_COMM_SHIFT
CFG2_MASTER = 1 << 22
COMM_FULL_DUPLEX, COMM_TRANSMITTER, COMM_RECEIVER, COMM_HALF_DUPLEX = 0, 1, 2, 3

SR_RXP = 1 << 0
SR_TXP = 1 << 1
SR_DXP = 1 << 2
SR_EOT = 1 << 3
SR_TXTF = 1 << 4
SR_UDR = 1 << 5
SR_OVR = 1 << 6
SR_CRCE = 1 << 7
SR_TIFRE = 1 << 8
SR_MODF = 1 << 9
SR_SUSP = 1 << 11
SR_TXC = 1 << 12
SR_RXPLVL_SHIFT = 13
SR_RXWNE = 1 << 15
SR_CTSIZE_SHIFT = 16
# IFCR: writing 1 clears the SR flag at the same bit.
IFCR_CLEARS = SR_EOT | SR_TXTF | SR_UDR | SR_OVR | SR_CRCE | SR_TIFRE | SR_MODF | SR_SUSP

IER_RXPIE, IER_TXPIE, IER_DXPIE, IER_EOTIE = 1 << 0, 1 << 1, 1 << 2, 1 << 3
IER_MASK = 0x3FF  # RXPIE .. MODFIE, each at its SR flag's bit

CFG1_RESET = 0x0007_0007  # 8-bit frames, CRCSIZE 8 bits
CRCPOLY_RESET = 0x107
# Registers that only change while SPE = 0 (RM0456: the configuration is locked while enabled).
_LOCKED_WHILE_ENABLED = (CFG1, CFG2, CRCPOLY, UDRDR)
_STORED = (CR1, CR2, CFG1, CFG2, IER, AUTOCR, CRCPOLY, UDRDR)


@dataclass(frozen=True)
class SpiSpec:
    """Where an SPI sits: name, non-secure base, NVIC line and FIFO size in bytes."""

    name: str
    base: int
    irq: int
    fifo_bytes: int


SPI1 = SpiSpec("SPI1", 0x4001_3000, 59, 16)
SPI2 = SpiSpec("SPI2", 0x4000_3800, 60, 16)
SPI3 = SpiSpec("SPI3", 0x4600_2000, 99, 8)  # the limited instance: smaller FIFOs
SPI_BUSES = (SPI1, SPI2, SPI3)


class Spi(Peripheral):
    """One SPI, master mode; the chosen model is a bus with nothing connected and MISO pulled up.

    Every frame the master clocks moves at once in virtual time: what it sends is dropped and what
    it receives is all ones (0xFF for 8-bit frames). CSTART starts the transfer, TSIZE frames long
    (EOT, TXC and TXTF at its end, CSTART cleared) or endless with TSIZE = 0. TXP, RXP, DXP, RXWNE,
    RXPLVL and CTSIZE follow the FIFOs as ST's HAL polls them; TXDR and RXDR pack several frames
    into one 16- or 32-bit access. A full receive FIFO in full duplex raises OVR. Slave mode never
    sees a clock (no master on the bus); CRC, underrun and mode faults are not modelled.
    """

    size = 0x400

    def __init__(self, ctx: DeviceContext, spec: SpiSpec):
        super().__init__(ctx)
        self.name, self.base, self.irq = spec.name, spec.base, spec.irq
        self.fifo_bytes = spec.fifo_bytes
        self._irq_level = False
        self.reset()

    # --- bus side -----------------------------------------------------------------------------
    def reset(self) -> None:
        self._regs = {reg: 0 for reg in _STORED}
        self._regs[CFG1] = CFG1_RESET
        self._regs[CRCPOLY] = CRCPOLY_RESET
        self._flush()
        self._flags = 0  # EOT, TXTF, OVR, SUSP
        self._irq_level = False
        self.ctx.set_irq(self.irq, False)

    def _flush(self) -> None:
        self._tx: deque[int] = deque()
        self._rx: deque[int] = deque()
        self._clocked = 0  # frames of the current transfer already on the wire
        self._queued = 0  # frames of the current transfer written to TXDR

    def read(self, offset: int, size: int) -> int:
        aligned, shift = offset & ~3, (offset & 3) * 8
        if aligned == RXDR:
            value = self._pop_frames(size)
            self._run()
            self._update_irq()
            return value
        if aligned == SR:
            word = self._sr()
        else:
            word = self._regs.get(aligned, 0)  # TXDR, IFCR and the CRC results read 0
        return (word >> shift) & ((1 << (size * 8)) - 1)

    def write(self, offset: int, size: int, value: int) -> None:
        aligned, shift = offset & ~3, (offset & 3) * 8
        mask = ((1 << (size * 8)) - 1) << shift
        value = (value << shift) & mask
        if aligned == TXDR:
            self._push_frames(size, value >> shift)
        elif aligned == IFCR:
            self._flags &= ~(value & IFCR_CLEARS)
        elif aligned == CR1:
            self._write_cr1((self._regs[CR1] & ~mask) | value)
        elif aligned in _STORED:
            if aligned in _LOCKED_WHILE_ENABLED and self._enabled():
                return
            self._regs[aligned] = (self._regs[aligned] & ~mask) | value
            if aligned == IER:
                self._regs[IER] &= IER_MASK
        self._run()
        self._update_irq()

    # --- the controller -----------------------------------------------------------------------
    def _enabled(self) -> bool:
        return bool(self._regs[CR1] & CR1_SPE)

    def _write_cr1(self, cr1: int) -> None:
        was_enabled = self._enabled()
        if cr1 & CR1_CSUSP:  # a suspend request: granted at once
            cr1 &= ~(CR1_CSUSP | CR1_CSTART)
            if was_enabled and self._regs[CR1] & CR1_CSTART:
                self._flags |= SR_SUSP
        if not cr1 & CR1_SPE:
            cr1 &= ~CR1_CSTART
            if was_enabled:  # disabling flushes the FIFOs and ends any transfer
                self._flush()
        elif not was_enabled:
            self._flush()
        if cr1 & CR1_CSTART and not self._regs[CR1] & CR1_CSTART:
            self._clocked = 0
            self._flags &= ~(SR_EOT | SR_SUSP)
        self._regs[CR1] = cr1

    def _frame_bits(self) -> int:
        return (self._regs[CFG1] & CFG1_DSIZE) + 1

    def _frame_bytes(self) -> int:
        bits = self._frame_bits()
        return 1 if bits <= 8 else 2 if bits <= 16 else 4

    def _capacity(self) -> int:
        """Frames each FIFO holds."""
        return max(1, self.fifo_bytes // self._frame_bytes())

    def _packet(self) -> int:
        """Frames in a packet (FTHLV + 1): what TXP and RXP wait for."""
        return ((self._regs[CFG1] & CFG1_FTHLV) >> CFG1_FTHLV_SHIFT) + 1

    def _tsize(self) -> int:
        return self._regs[CR2] & CR2_TSIZE

    def _comm(self) -> tuple[bool, bool]:
        """(transmits, receives) for the configured communication mode."""
        comm = (self._regs[CFG2] & CFG2_COMM) >> CFG2_COMM_SHIFT
        if comm == COMM_HALF_DUPLEX:
            sending = bool(self._regs[CR1] & CR1_HDDIR)
            return sending, not sending
        return comm != COMM_RECEIVER, comm != COMM_TRANSMITTER

    def _push_frames(self, size: int, value: int) -> None:
        if not self._enabled():
            return
        width = self._frame_bytes()
        frame_mask = (1 << self._frame_bits()) - 1
        for i in range(max(1, size // width)):
            tsize = self._tsize()
            if len(self._tx) >= self._capacity() or (tsize and self._queued >= tsize):
                break  # no room (TXP was clear) or the whole transfer is already written
            self._tx.append((value >> (i * width * 8)) & frame_mask)
            self._queued += 1
            if tsize and self._queued == tsize:
                self._flags |= SR_TXTF
                self._regs[IER] &= ~(IER_TXPIE | IER_DXPIE)  # cleared by the TXTF event

    def _pop_frames(self, size: int) -> int:
        width = self._frame_bytes()
        value = 0
        for i in range(max(1, size // width)):
            if not self._rx:
                break
            value |= self._rx.popleft() << (i * width * 8)
        return value & ((1 << (size * 8)) - 1)

    def _running(self) -> bool:
        cr1 = self._regs[CR1]
        master = self._regs[CFG2] & CFG2_MASTER
        return bool(cr1 & CR1_SPE and cr1 & CR1_CSTART and master)

    def _run(self) -> None:
        """Clock every frame that can go now; nothing answers, so each received frame is all ones."""
        if not self._running():
            return
        sends, receives = self._comm()
        ones = (1 << self._frame_bits()) - 1
        tsize = self._tsize()
        while not tsize or self._clocked < tsize:
            if sends:
                if not self._tx:
                    break  # the master waits for data (underrun is a slave's problem)
                self._tx.popleft()
            elif len(self._rx) >= self._capacity():
                break  # a receive-only master stops the clock while the FIFO is full
            if receives:
                if len(self._rx) < self._capacity():
                    self._rx.append(ones)
                else:
                    self._flags |= SR_OVR
            self._clocked += 1
        if tsize and self._clocked >= tsize:  # end of transfer: the next one counts afresh
            self._flags |= SR_EOT
            self._regs[CR1] &= ~CR1_CSTART
            self._queued = 0

    def _sr(self) -> int:
        sr = self._flags
        packet = self._packet()
        if self._capacity() - len(self._tx) >= packet or not self._enabled():
            sr |= SR_TXP
        if len(self._rx) >= packet:
            sr |= SR_RXP
        if sr & SR_TXP and sr & SR_RXP:
            sr |= SR_DXP
        rx_bytes = len(self._rx) * self._frame_bytes()
        if rx_bytes >= 4:
            sr |= SR_RXWNE
        elif self._frame_bytes() < 4:
            sr |= len(self._rx) << SR_RXPLVL_SHIFT
        tsize = self._tsize()
        if tsize:
            if self._flags & SR_EOT:
                sr |= SR_TXC
            sr |= max(0, tsize - self._clocked) << SR_CTSIZE_SHIFT
        elif not self._tx:
            sr |= SR_TXC
        return sr

    def _update_irq(self) -> None:
        sr, ier = self._sr(), self._regs[IER]
        level = bool(sr & ier & IER_MASK) or bool(sr & (SR_TXC | SR_SUSP) and ier & IER_EOTIE)
        if level != self._irq_level:
            self._irq_level = level
            self.ctx.set_irq(self.irq, level)
