"""I2C1..I2C4 and SPI1..SPI3: an absent slave NACKs and an unconnected MISO reads ones, never a fault."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from microvisor.device.bus import EventBus
from microvisor.device.clock import VirtualClock
from microvisor.device.machine import Device
from microvisor.device.peripherals import build_peripherals, find
from microvisor.device.peripherals.i2c import I2C1, I2C4, I2C_BUSES, I2c
from microvisor.device.peripherals.spi import SPI1, SPI3, SPI_BUSES, Spi

# I2C registers and bits (RM0456).
CR1, CR2, OAR1, OAR2, TIMINGR, TIMEOUTR, ISR, ICR, RXDR, TXDR = (
    0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x1C, 0x24, 0x28)
PE, TXIE, RXIE, NACKIE, STOPIE, TCIE = 1, 1 << 1, 1 << 2, 1 << 4, 1 << 5, 1 << 6
RD_WRN, START, STOP, RELOAD, AUTOEND = 1 << 10, 1 << 13, 1 << 14, 1 << 24, 1 << 25
TXE, TXIS, RXNE, NACKF, STOPF, TC, TCR, BUSY = 1, 2, 4, 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 15

# SPI registers and bits (RM0456).
S_CR1, S_CR2, CFG1, CFG2, IER, SR, IFCR, S_TXDR, S_RXDR = (
    0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x20, 0x30)
SPE, CSTART, SSI = 1, 1 << 9, 1 << 12
MASTER, SSM = 1 << 22, 1 << 26
RXP, TXP, EOT, TXTF, OVR, TXC, RXWNE = 1, 2, 1 << 3, 1 << 4, 1 << 6, 1 << 12, 1 << 15
TXPIE, EOTIE = 1 << 1, 1 << 3


class FakeDevice:
    """A DeviceContext double: IRQ line levels recorded."""

    def __init__(self) -> None:
        self.clock = VirtualClock()
        self.events = EventBus(self.clock)
        self.lines: dict[int, bool] = {}

    def set_irq(self, irqn: int, level: bool = True) -> None:
        self.lines[irqn] = level

    def post(self, callback: Callable[[], None]) -> None:
        callback()

    def watchdog_expired(self, detail: str) -> None:
        raise AssertionError(detail)

    def line(self, irqn: int) -> bool:
        return self.lines.get(irqn, False)


@pytest.fixture
def dev() -> FakeDevice:
    return FakeDevice()


def test_buses_sit_at_their_published_addresses(dev: FakeDevice) -> None:
    peripherals = build_peripherals(dev, None)
    assert [(find(peripherals, s.name).base, s.ev_irq, s.er_irq) for s in I2C_BUSES] == [
        (0x4000_5400, 55, 56), (0x4000_5800, 57, 58), (0x4600_2800, 88, 89), (0x4000_8400, 101, 100)]
    assert [(find(peripherals, s.name).base, s.irq) for s in SPI_BUSES] == [
        (0x4001_3000, 59), (0x4000_3800, 60), (0x4600_2000, 99)]


# --- I2C ----------------------------------------------------------------------------------------
def _enabled_i2c(dev: FakeDevice) -> I2c:
    i2c = I2c(dev, I2C1)
    i2c.write(TIMINGR, 4, 0x30909DEC)
    i2c.write(CR2, 4, AUTOEND)
    i2c.write(CR1, 4, PE)
    return i2c


def test_i2c_keeps_its_configuration(dev: FakeDevice) -> None:
    i2c = I2c(dev, I2C1)
    for offset, value in ((TIMINGR, 0x30909DEC), (OAR1, 0x8000 | 0x42 << 1), (OAR2, 0x8000 | 0x50),
                          (TIMEOUTR, 0x8000_8061), (CR1, PE | 1 << 17)):
        i2c.write(offset, 4, value)
        assert i2c.read(offset, 4) == value
    assert i2c.read(ISR, 4) == TXE


def test_i2c_master_write_to_an_absent_slave_nacks_and_stops(dev: FakeDevice) -> None:
    i2c = _enabled_i2c(dev)
    i2c.write(CR2, 4, 0x40 << 1 | 2 << 16 | AUTOEND | START)
    isr = i2c.read(ISR, 4)
    assert isr & (NACKF | STOPF) == NACKF | STOPF
    assert not isr & (TXIS | BUSY) and not i2c.read(CR2, 4) & START
    i2c.write(ICR, 4, NACKF | STOPF)
    assert i2c.read(ISR, 4) == TXE


def test_i2c_nack_without_autoend_still_ends_in_stop(dev: FakeDevice) -> None:
    i2c = _enabled_i2c(dev)
    i2c.write(TXDR, 4, 0x10)  # a byte waiting in TXDR before the START (as the HAL's memory writes)
    assert not i2c.read(ISR, 4) & TXE
    i2c.write(CR2, 4, 0x40 << 1 | 1 << 16 | RELOAD | START)
    assert i2c.read(ISR, 4) & (NACKF | STOPF | BUSY) == NACKF | STOPF
    i2c.write(ISR, 4, TXE)  # the HAL flushes TXDR by setting TXE
    assert i2c.read(ISR, 4) & TXE


def test_i2c_master_read_from_an_absent_slave_nacks(dev: FakeDevice) -> None:
    i2c = _enabled_i2c(dev)
    i2c.write(CR2, 4, 0x40 << 1 | RD_WRN | 1 << 16 | AUTOEND | START)
    assert i2c.read(ISR, 4) & (NACKF | STOPF | RXNE) == NACKF | STOPF


def test_i2c_interrupt_lines_follow_the_enables(dev: FakeDevice) -> None:
    i2c = I2c(dev, I2C4)
    i2c.write(CR1, 4, PE | NACKIE)
    i2c.write(CR2, 4, 0x10 << 1 | AUTOEND | START)
    assert dev.line(I2C4.ev_irq) and not dev.line(I2C4.er_irq)
    i2c.write(ICR, 4, NACKF)
    assert not dev.line(I2C4.ev_irq)  # STOPF is pending but STOPIE is off
    i2c.write(CR1, 4, PE | NACKIE | STOPIE)
    assert dev.line(I2C4.ev_irq)
    i2c.write(CR1, 4, 0)  # PE = 0: a software reset clears the flags
    assert i2c.read(ISR, 4) == TXE and not dev.line(I2C4.ev_irq)


def test_i2c_start_needs_the_peripheral_enabled(dev: FakeDevice) -> None:
    i2c = I2c(dev, I2C1)
    i2c.write(CR2, 4, 0x40 << 1 | AUTOEND | START)
    assert i2c.read(ISR, 4) == TXE and not i2c.read(CR2, 4) & START


class Sensor:
    """A target that ACKs, records what it is sent and answers with a counter."""

    def __init__(self, nack_after: int | None = None) -> None:
        self.log: list[tuple] = []
        self.nack_after = nack_after
        self.next = 0xA0

    def addressed(self, read: bool) -> bool:
        self.log.append(("address", read))
        return True

    def write(self, byte: int) -> bool:
        self.log.append(("write", byte))
        return self.nack_after is None or len([e for e in self.log if e[0] == "write"]) <= self.nack_after

    def read(self) -> int:
        self.next += 1
        return self.next

    def stop(self) -> None:
        self.log.append(("stop",))


def test_an_attached_target_acks_its_address_and_bytes(dev: FakeDevice) -> None:
    i2c = _enabled_i2c(dev)
    sensor = Sensor()
    i2c.attach(0x40, sensor)
    i2c.write(CR2, 4, 0x40 << 1 | 2 << 16 | START)  # software end: TC after two bytes
    assert i2c.read(ISR, 4) & (TXIS | BUSY) == TXIS | BUSY
    i2c.write(TXDR, 4, 0xE3)
    assert i2c.read(ISR, 4) & TXIS
    i2c.write(TXDR, 4, 0x01)
    assert i2c.read(ISR, 4) & (TXIS | TC) == TC
    i2c.write(CR2, 4, 0x40 << 1 | RD_WRN | 2 << 16 | AUTOEND | START)  # repeated START, read 2
    assert i2c.read(ISR, 4) & (RXNE | TC) == RXNE
    assert i2c.read(RXDR, 4) == 0xA1
    assert i2c.read(RXDR, 4) == 0xA2
    assert i2c.read(ISR, 4) & (RXNE | STOPF | BUSY | NACKF) == STOPF
    assert sensor.log == [("address", False), ("write", 0xE3), ("write", 0x01), ("address", True),
                          ("stop",)]


def test_reload_mode_waits_for_new_nbytes(dev: FakeDevice) -> None:
    i2c = _enabled_i2c(dev)
    i2c.attach(0x40, Sensor())
    i2c.write(CR2, 4, 0x40 << 1 | 1 << 16 | RELOAD | START)
    i2c.write(TXDR, 4, 1)
    assert i2c.read(ISR, 4) & (TCR | TXIS) == TCR
    i2c.write(CR2, 4, 0x40 << 1 | 1 << 16 | AUTOEND)
    assert i2c.read(ISR, 4) & (TCR | TXIS) == TXIS
    i2c.write(TXDR, 4, 2)
    assert i2c.read(ISR, 4) & (STOPF | BUSY) == STOPF


def test_a_target_nacking_a_byte_ends_the_transfer(dev: FakeDevice) -> None:
    i2c = _enabled_i2c(dev)
    sensor = Sensor(nack_after=1)
    i2c.attach(0x40, sensor)
    i2c.write(CR2, 4, 0x40 << 1 | 3 << 16 | AUTOEND | START)
    i2c.write(TXDR, 4, 1)
    i2c.write(TXDR, 4, 2)
    assert i2c.read(ISR, 4) & (NACKF | STOPF | TXIS | BUSY) == NACKF | STOPF
    assert sensor.log[-1] == ("stop",)


def test_i2c_through_the_device_bus(device: Device) -> None:
    base = I2C1.base
    device.bus_write32(base + CR1, PE)
    device.bus_write32(base + CR2, 0x40 << 1 | 1 << 16 | AUTOEND | START)
    assert device.bus_read32(base + ISR) & (NACKF | STOPF) == NACKF | STOPF


# --- SPI ----------------------------------------------------------------------------------------
def _master(dev: FakeDevice, spec=SPI1) -> Spi:
    spi = Spi(dev, spec)
    spi.write(S_CR1, 4, SSI)
    spi.write(CFG1, 4, 7 | 3 << 28)  # 8-bit frames, 1-frame packets
    spi.write(CFG2, 4, MASTER | SSM)
    return spi


def test_spi_reset_values_and_configuration_lock(dev: FakeDevice) -> None:
    spi = Spi(dev, SPI1)
    assert spi.read(CFG1, 4) == 0x0007_0007 and spi.read(SR, 4) == TXP | TXC
    spi = _master(dev)
    assert spi.read(CFG2, 4) == MASTER | SSM
    spi.write(S_CR1, 4, SSI | SPE)
    spi.write(CFG1, 4, 15)  # written while enabled: ignored
    assert spi.read(CFG1, 4) == 7 | 3 << 28


def test_spi_full_duplex_transfer_reads_ones(dev: FakeDevice) -> None:
    spi = _master(dev)
    spi.write(S_CR2, 4, 3)
    spi.write(S_CR1, 4, SSI | SPE)
    spi.write(S_CR1, 4, SSI | SPE | CSTART)
    received = []
    for byte in (0x9F, 0, 0):
        assert spi.read(SR, 4) & TXP
        spi.write(S_TXDR, 1, byte)
        assert spi.read(SR, 4) & RXP
        received.append(spi.read(S_RXDR, 1))
    assert received == [0xFF, 0xFF, 0xFF]
    sr = spi.read(SR, 4)
    assert sr & (EOT | TXC | TXTF) == EOT | TXC | TXTF and sr >> 16 == 0
    assert not spi.read(S_CR1, 4) & CSTART  # cleared at the end of the transfer
    spi.write(IFCR, 4, EOT | TXTF)
    assert not spi.read(SR, 4) & (EOT | TXTF | TXC)


def test_spi_packs_frames_and_counts_down(dev: FakeDevice) -> None:
    spi = _master(dev, SPI3)
    spi.write(S_CR2, 4, 6)
    spi.write(S_CR1, 4, SSI | SPE)
    spi.write(S_TXDR, 4, 0x0403_0201)  # four frames before CSTART
    assert spi.read(SR, 4) >> 16 == 6  # CTSIZE
    spi.write(S_CR1, 4, SSI | SPE | CSTART)
    sr = spi.read(SR, 4)
    assert sr & RXWNE and sr >> 16 == 2 and not sr & EOT
    assert spi.read(S_RXDR, 4) == 0xFFFF_FFFF
    spi.write(S_TXDR, 2, 0x0605)
    sr = spi.read(SR, 4)
    assert sr & EOT and not sr & RXWNE and sr >> 13 & 3 == 2  # RXPLVL: two frames left
    assert spi.read(S_RXDR, 2) == 0xFFFF


def test_spi_16_bit_frames_and_receive_only(dev: FakeDevice) -> None:
    spi = _master(dev)
    spi.write(CFG1, 4, 11)  # 12-bit frames
    spi.write(CFG2, 4, MASTER | SSM | 2 << 17)  # simplex receiver
    spi.write(S_CR2, 4, 2)
    spi.write(S_CR1, 4, SSI | SPE | CSTART)
    assert spi.read(SR, 4) & (EOT | RXWNE) == EOT | RXWNE
    assert spi.read(S_RXDR, 4) == 0x0FFF_0FFF


def test_spi_overrun_when_nobody_reads(dev: FakeDevice) -> None:
    spi = _master(dev, SPI3)  # 8-byte FIFOs
    spi.write(S_CR1, 4, SSI | SPE | CSTART)  # TSIZE = 0: endless
    for _ in range(9):
        spi.write(S_TXDR, 1, 0)
    assert spi.read(SR, 4) & OVR
    spi.write(IFCR, 4, OVR)
    assert not spi.read(SR, 4) & OVR


def test_spi_interrupts(dev: FakeDevice) -> None:
    spi = _master(dev)
    spi.write(S_CR2, 4, 1)
    spi.write(S_CR1, 4, SSI | SPE)
    spi.write(IER, 4, TXPIE)
    assert dev.line(SPI1.irq)  # room in the TX FIFO
    spi.write(S_TXDR, 1, 0)  # the whole transfer written: TXTF clears TXPIE
    assert spi.read(IER, 4) == 0 and not dev.line(SPI1.irq)
    spi.write(IER, 4, EOTIE)
    spi.write(S_CR1, 4, SSI | SPE | CSTART)
    assert dev.line(SPI1.irq)
    spi.write(IFCR, 4, EOT | TXTF)
    assert not dev.line(SPI1.irq)


def test_spi_slave_waits_for_a_master_that_never_comes(dev: FakeDevice) -> None:
    spi = Spi(dev, SPI1)
    spi.write(S_CR2, 4, 1)
    spi.write(S_CR1, 4, SPE | CSTART)
    spi.write(S_TXDR, 1, 0x55)
    assert not spi.read(SR, 4) & (RXP | EOT)


def test_an_application_drives_every_bus_without_a_fault(device_apps, device_run) -> None:
    run = device_run(device_apps / "buses" / "buses.elf")
    run.run()
    assert run.result.reason != "crash", run.result.crash
    assert run.failures() == []
    assert run.lines and re.fullmatch(r"DONE pass=\d+ fail=0", run.lines[-1]), run.lines[-3:]
    for bus in ("i2c1", "i2c2", "i2c3", "i2c4"):
        assert {f"{bus}/{check}" for check in ("registers-kept", "idle", "transmit-nack", "released",
                                               "receive-nack", "not-ready", "event-interrupt")
                } <= run.passed()
    for bus in ("spi1", "spi2", "spi3"):
        assert {f"{bus}/{check}" for check in ("registers-kept", "transfer", "reads-ones", "closed",
                                               "packed", "eot-interrupt")} <= run.passed()
