"""The memory-mapped peripheral models, driven through their registers on a virtual clock."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import pytest

from microvisor.device.bus import DeviceEvent, EventBus
from microvisor.device.clock import NS_PER_S, VirtualClock
from microvisor.device.peripherals import build_peripherals, find
from microvisor.device.peripherals.gpio import USER_LED_PIN, USER_LED_PORT, GpioPort
from microvisor.device.peripherals.rcc import FlashInterface, InstructionCache, Pwr, Rcc
from microvisor.device.peripherals.rtc import Rtc, Tamp
from microvisor.device.peripherals.timer import TIM2, TIM3, GeneralTimer
from microvisor.device.peripherals.usart import USART2, Usart

MS = 1_000_000


class FakeDevice:
    """A DeviceContext double: real clock and event bus; IRQ lines and posted callbacks recorded."""

    def __init__(self) -> None:
        self.clock = VirtualClock()
        self.events = EventBus(self.clock)
        self.lines: dict[int, bool] = {}
        self.posted: list[Callable[[], None]] = []
        self.seen: list[DeviceEvent] = []
        self.events.subscribe(self.seen.append)

    def set_irq(self, irqn: int, level: bool = True) -> None:
        self.lines[irqn] = level

    def post(self, callback: Callable[[], None]) -> None:
        self.posted.append(callback)

    def run_posted(self) -> None:
        while self.posted:
            self.posted.pop(0)()

    def advance_to(self, at_ns: int) -> None:
        self.clock.advance_to(at_ns)
        self.clock.run_due()

    def line(self, irqn: int) -> bool:
        return self.lines.get(irqn, False)

    def take(self, source: str, kind: str) -> list[dict]:
        found = [e.data for e in self.seen if e.source == source and e.kind == kind]
        self.seen[:] = [e for e in self.seen if not (e.source == source and e.kind == kind)]
        return found


@pytest.fixture
def dev() -> FakeDevice:
    return FakeDevice()


# --- registry ---------------------------------------------------------------------------------
def test_registry_names_bases_and_windows(dev: FakeDevice) -> None:
    peripherals = build_peripherals(dev, None)
    names = {p.name for p in peripherals}
    expected = {f"GPIO{port}" for port in "ABCDEFGHI"} | {
        "USART1", "USART2", "RCC", "PWR", "FLASH", "ICACHE", "RTC", "TAMP"
    } | {f"TIM{n}" for n in range(2, 8)}
    assert expected <= names
    assert find(peripherals, "GPIOA").base == 0x4202_0000
    assert find(peripherals, "GPIOI").base == 0x4202_2000
    assert find(peripherals, "USART1").base == 0x4001_3800
    assert find(peripherals, "USART2").base == 0x4000_4400
    assert find(peripherals, "RCC").base == 0x4602_0C00
    assert find(peripherals, "TIM7").base == 0x4000_1400
    assert find(peripherals, "TAMP").base == 0x4600_7C00
    spans = sorted((p.base, p.base + p.size) for p in peripherals)
    assert all(end <= nxt for (_, end), (nxt, _) in pairwise(spans))
    assert all(p.base % 1024 == 0 and p.size % 1024 == 0 for p in peripherals)
    with pytest.raises(KeyError):
        find(peripherals, "GPIOZ")


# --- GPIO -------------------------------------------------------------------------------------
def test_gpio_reset_values_differ_for_ports_a_and_b(dev: FakeDevice) -> None:
    a, b, c = GpioPort(dev, "A"), GpioPort(dev, "B"), GpioPort(dev, "C")
    assert a.read(0x00, 4) == 0xABFF_FFFF
    assert b.read(0x00, 4) == 0xFFFF_FEBF
    assert c.read(0x00, 4) == 0xFFFF_FFFF
    assert a.read(0x0C, 4) == 0x6400_0000 and b.read(0x0C, 4) == 0x0000_0100
    assert a.read(0x08, 4) == 0x0C00_0000 and c.read(0x08, 4) == 0
    assert a.read(0x10, 4) == 0xA000  # PA13 and PA15 pulled up, PA14 pulled down
    assert c.read(0x10, 4) == 0  # analog pins read 0


def test_gpio_output_levels_become_events(dev: FakeDevice) -> None:
    port = GpioPort(dev, USER_LED_PORT)
    led = USER_LED_PIN
    moder = port.read(0x00, 4) & ~(3 << 2 * led) | 1 << 2 * led
    port.write(0x00, 4, moder)  # PA5 becomes an output, driving 0
    assert dev.take("gpio", "pin") == [{"port": "A", "pin": 5, "level": 0}]
    port.write(0x18, 4, 1 << led)  # BSRR set
    assert dev.take("gpio", "pin") == [{"port": "A", "pin": 5, "level": 1}]
    assert port.read(0x14, 4) == 1 << led and port.read(0x10, 4) & 1 << led
    assert port.read(0x18, 4) == 0  # BSRR is write-only
    port.write(0x18, 4, 1 << led)  # no change, no event
    assert dev.take("gpio", "pin") == []
    port.write(0x1A, 2, 1 << led)  # BSRR reset half, by a half-word access
    assert dev.take("gpio", "pin") == [{"port": "A", "pin": 5, "level": 0}]
    port.write(0x14, 4, 0xFFFF)  # ODR: only PA5 is an output
    assert dev.take("gpio", "pin") == [{"port": "A", "pin": 5, "level": 1}]
    port.write(0x28, 4, 1 << led)  # BRR
    assert dev.take("gpio", "pin") == [{"port": "A", "pin": 5, "level": 0}]
    assert port.output_level(led) == 0 and port.output_level(6) is None


def test_gpio_host_inputs_show_in_idr(dev: FakeDevice) -> None:
    port = GpioPort(dev, "C")
    port.write(0x00, 4, 0xFFFF_FFFF & ~(3 << 26))  # PC13 input, no pull
    assert port.read(0x10, 4) & 1 << 13 == 0
    port.set_input(13, 1)
    assert port.read(0x10, 4) & 1 << 13
    port.set_input(13, None)
    port.write(0x0C, 4, 1 << 26)  # pull-up decides when nobody drives the pin
    assert port.read(0x10, 4) & 1 << 13
    assert dev.take("gpio", "pin") == []


def test_gpio_lock_sequence_freezes_configuration(dev: FakeDevice) -> None:
    port = GpioPort(dev, "D")
    key = 1 << 3
    for lckk in (1, 0, 1):
        port.write(0x1C, 4, lckk << 16 | key)
    assert port.read(0x1C, 4) == 1 << 16 | key
    port.write(0x00, 4, 0)  # every pin to input: pin 3 stays analog
    assert port.read(0x00, 4) == 3 << 6
    port.reset()
    assert port.read(0x1C, 4) == 0


# --- USART ------------------------------------------------------------------------------------
UE, RE, TE, RXNEIE, TCIE = 1, 1 << 2, 1 << 3, 1 << 5, 1 << 6
TXE, TC, RXNE, IDLE, TEACK, REACK = 1 << 7, 1 << 6, 1 << 5, 1 << 4, 1 << 21, 1 << 22


def test_usart_transmits_bytes_and_lines(dev: FakeDevice) -> None:
    uart = Usart(dev, USART2)
    uart.write(0x28, 4, ord("x"))  # transmitter off: nothing leaves
    assert dev.take("uart", "tx") == []
    uart.write(0x00, 4, UE | TE | RE)
    assert uart.read(0x1C, 4) & (TXE | TC | TEACK | REACK) == TXE | TC | TEACK | REACK
    for byte in b"hi\r\nok\n":
        uart.write(0x28, 4, byte)
    assert [e["data"] for e in dev.take("uart", "tx")] == [bytes([b]) for b in b"hi\r\nok\n"]
    assert dev.take("uart", "line") == [{"port": "USART2", "text": "hi"},
                                        {"port": "USART2", "text": "ok"}]
    assert uart.read(0x1C, 4) & (TXE | TC) == TXE | TC  # transmission is instant


def test_usart_tc_interrupt_follows_flag(dev: FakeDevice) -> None:
    uart = Usart(dev, USART2)
    uart.write(0x00, 4, UE | TE | TCIE)
    assert dev.line(USART2.irq)
    uart.write(0x20, 4, 1 << 6)  # TCCF
    assert not dev.line(USART2.irq)
    uart.write(0x28, 4, ord("a"))
    assert dev.line(USART2.irq)


def test_usart_receive_sets_rxne_and_interrupt(dev: FakeDevice) -> None:
    uart = Usart(dev, USART2)
    uart.write(0x00, 4, UE | RE | RXNEIE)
    uart.receive(b"ab")
    assert not uart.read(0x1C, 4) & RXNE  # arrives on the emulation thread
    dev.run_posted()
    assert uart.read(0x1C, 4) & RXNE
    assert dev.line(USART2.irq)
    assert uart.read(0x24, 4) == ord("a")
    assert dev.line(USART2.irq)
    assert uart.read(0x24, 1) == ord("b")
    assert not uart.read(0x1C, 4) & RXNE
    assert not dev.line(USART2.irq)
    assert uart.read(0x1C, 4) & IDLE
    uart.write(0x20, 4, 1 << 4)  # IDLECF
    assert not uart.read(0x1C, 4) & IDLE


# --- RCC, PWR, FLASH, ICACHE ------------------------------------------------------------------
def test_rcc_ready_flags_follow_enables(dev: FakeDevice) -> None:
    rcc = Rcc(dev)
    assert rcc.read(0x00, 4) == 0x35  # MSIS and MSIK on and ready
    rcc.write(0x00, 4, rcc.read(0x00, 4) | 1 << 8 | 1 << 16 | 1 << 24)  # HSI16, HSE, PLL1
    cr = rcc.read(0x00, 4)
    assert cr & (1 << 10 | 1 << 17 | 1 << 25) == 1 << 10 | 1 << 17 | 1 << 25
    rcc.write(0x00, 4, cr & ~(1 << 24))
    assert not rcc.read(0x00, 4) & 1 << 25
    rcc.write(0x00, 4, 1 << 13)  # a ready bit cannot be written on its own
    assert not rcc.read(0x00, 4) & 1 << 13
    rcc.write(0x1C, 4, 3)  # SW = PLL1
    assert rcc.read(0x1C, 4) & 0xC == 0xC and rcc.sysclk_source() == 3
    rcc.write(0xF0, 4, 1 | 1 << 26)  # LSEON, LSION
    assert rcc.read(0xF0, 4) & (1 << 1 | 1 << 27) == 1 << 1 | 1 << 27
    assert rcc.read(0xF4, 4) & 0x0C00_0000  # PINRSTF, BORRSTF
    rcc.write(0xF4, 4, 1 << 23)  # RMVF
    assert rcc.read(0xF4, 4) & 0xFF80_0000 == 0
    rcc.reset()
    assert rcc.read(0xF0, 4) & 1 << 1  # the backup domain survives a system reset
    assert rcc.read(0x1C, 4) == 0


def test_pwr_voltage_scaling_and_booster_are_ready(dev: FakeDevice) -> None:
    pwr = Pwr(dev)
    assert pwr.read(0x0C, 4) == 1 << 15  # VOSRDY, range 4
    pwr.write(0x0C, 4, 3 << 16 | 1 << 18)  # VOS range 1, BOOSTEN
    vosr = pwr.read(0x0C, 4)
    assert vosr & (1 << 15 | 1 << 14) == 1 << 15 | 1 << 14
    assert pwr.read(0x3C, 4) >> 16 & 3 == 3 and pwr.read(0x3C, 4) & 1 << 15
    pwr.write(0x08, 4, 1 << 1)  # REGSEL: SMPS
    assert pwr.read(0x3C, 4) & 1 << 1
    pwr.write(0x10, 4, 1 << 24)  # VDDUSB monitor on
    assert pwr.read(0x3C, 4) & 1 << 24


def test_flash_latency_reads_back_and_keys_unlock(dev: FakeDevice) -> None:
    flash = FlashInterface(dev)
    flash.write(0x00, 4, 4)
    assert flash.read(0x00, 4) & 0xF == 4
    assert flash.read(0x28, 4) & 1 << 31
    flash.write(0x28, 4, 0)  # locked: ignored
    assert flash.read(0x28, 4) & 1 << 31
    flash.write(0x08, 4, 0x4567_0123)
    flash.write(0x08, 4, 0xCDEF_89AB)
    assert not flash.read(0x28, 4) & 1 << 31


def test_icache_enables_and_invalidates_at_once(dev: FakeDevice) -> None:
    icache = InstructionCache(dev)
    icache.write(0x00, 4, icache.read(0x00, 4) | 1)
    assert icache.read(0x00, 4) & 1
    assert icache.read(0x04, 4) & 3 == 2  # not busy, busy-end flag set
    icache.write(0x0C, 4, 2)
    assert icache.read(0x04, 4) == 0
    icache.write(0x00, 4, icache.read(0x00, 4) | 2)  # CACHEINV
    assert icache.read(0x04, 4) == 2 and not icache.read(0x00, 4) & 2


# --- timers -----------------------------------------------------------------------------------
CEN, OPM, ARPE = 1, 1 << 3, 1 << 7


def _timer_at_10khz(dev: FakeDevice, arr: int) -> GeneralTimer:
    tim = GeneralTimer(dev, TIM2)
    tim.write(0x28, 4, 15_999)  # PSC: 160 MHz / 16000 = 10 kHz
    tim.write(0x2C, 4, arr)
    tim.write(0x14, 4, 1)  # UG loads PSC (and flags UIF)
    assert tim.read(0x10, 4) & 1
    tim.write(0x10, 4, 0)
    tim.write(0x0C, 4, 1)  # UIE
    return tim


def test_timer_update_interrupt_after_the_period(dev: FakeDevice) -> None:
    tim = _timer_at_10khz(dev, 9_999)  # 1 s period
    tim.write(0x00, 4, CEN)
    dev.advance_to(500 * MS)
    assert tim.read(0x24, 4) == 5_000
    assert not dev.line(TIM2.irq)
    dev.advance_to(NS_PER_S - 1)
    assert not dev.line(TIM2.irq)
    dev.advance_to(NS_PER_S)
    assert tim.read(0x10, 4) & 1 and dev.line(TIM2.irq)
    assert tim.read(0x24, 4) == 0
    tim.write(0x10, 4, ~1 & 0xFFFF_FFFF)  # clear UIF: the line is released
    assert not dev.line(TIM2.irq)
    dev.advance_to(2 * NS_PER_S - 1)
    assert not dev.line(TIM2.irq)
    dev.advance_to(2 * NS_PER_S)
    assert dev.line(TIM2.irq)


def test_timer_stops_and_catches_up_after_a_long_sleep(dev: FakeDevice) -> None:
    tim = _timer_at_10khz(dev, 9_999)
    tim.write(0x00, 4, CEN)
    dev.advance_to(250 * MS)
    tim.write(0x00, 4, 0)
    dev.advance_to(5 * NS_PER_S)
    assert tim.read(0x24, 4) == 2_500 and not dev.line(TIM2.irq)
    tim.write(0x00, 4, CEN)
    dev.advance_to(5 * NS_PER_S + 3600 * NS_PER_S + 100 * MS)  # an hour asleep
    assert dev.line(TIM2.irq)
    assert tim.read(0x24, 4) == 3_500
    assert dev.clock.next_deadline_ns() == 3605 * NS_PER_S + 750 * MS


def test_timer_reprogramming_arr_psc_and_cnt(dev: FakeDevice) -> None:
    tim = _timer_at_10khz(dev, 9_999)
    tim.write(0x00, 4, CEN)
    dev.advance_to(100 * MS)
    tim.write(0x2C, 4, 1_999)  # no ARPE: takes effect at once, next overflow at 200 ms
    dev.advance_to(200 * MS)
    assert dev.line(TIM2.irq)
    tim.write(0x10, 4, 0)
    tim.write(0x00, 4, CEN | ARPE)
    tim.write(0x2C, 4, 4_999)  # preloaded: this period still 200 ms long
    tim.write(0x28, 4, 7_999)  # PSC is always preloaded: 20 kHz from the next period
    dev.advance_to(400 * MS)
    assert dev.line(TIM2.irq)
    tim.write(0x10, 4, 0)
    dev.advance_to(400 * MS + 249 * MS)
    assert not dev.line(TIM2.irq)
    dev.advance_to(650 * MS)  # 5000 ticks at 20 kHz
    assert dev.line(TIM2.irq)
    tim.write(0x10, 4, 0)
    tim.write(0x24, 4, 4_000)  # CNT: 1000 ticks (50 ms) to go
    dev.advance_to(700 * MS)
    assert dev.line(TIM2.irq)


def test_timer_one_pulse_and_16_bit_width(dev: FakeDevice) -> None:
    tim = _timer_at_10khz(dev, 99)  # 10 ms
    tim.write(0x00, 4, CEN | OPM)
    dev.advance_to(10 * MS)
    assert dev.line(TIM2.irq) and not tim.read(0x00, 4) & CEN
    dev.advance_to(50 * MS)
    assert tim.read(0x24, 4) == 0 and dev.clock.next_deadline_ns() is None
    tim3 = GeneralTimer(dev, TIM3)
    assert tim3.read(0x2C, 4) == 0xFFFF
    tim3.write(0x24, 4, 0x12345)
    assert tim3.read(0x24, 4) == 0x2345


# --- RTC and TAMP -----------------------------------------------------------------------------
WUTE, WUTIE = 1 << 10, 1 << 14


def _unlock(rtc: Rtc) -> None:
    rtc.write(0x24, 4, 0xCA)
    rtc.write(0x24, 4, 0x53)


def test_rtc_write_protection(dev: FakeDevice) -> None:
    rtc = Rtc(dev)
    rtc.write(0x18, 4, WUTE)
    assert rtc.read(0x18, 4) == 0
    rtc.write(0x24, 4, 0xCA)
    rtc.write(0x24, 4, 0x00)  # a wrong key keeps it locked
    rtc.write(0x24, 4, 0x53)
    rtc.write(0x14, 4, 99)
    assert rtc.read(0x14, 4) == 0xFFFF
    _unlock(rtc)
    rtc.write(0x14, 4, 99)
    assert rtc.read(0x14, 4) == 99
    rtc.write(0x24, 4, 0xFF)  # any other write locks again
    rtc.write(0x14, 4, 5)
    assert rtc.read(0x14, 4) == 99


def test_rtc_wakeup_interrupt_period(dev: FakeDevice) -> None:
    rtc = Rtc(dev)
    _unlock(rtc)
    assert rtc.read(0x0C, 4) & 1 << 2  # WUTWF: WUTR may be written
    rtc.write(0x14, 4, 2047)  # 2048 ticks of RTCCLK/16 = 1 s
    rtc.write(0x18, 4, WUTE | WUTIE)
    assert not rtc.read(0x0C, 4) & 1 << 2
    dev.advance_to(NS_PER_S - 1)
    assert not dev.line(2)
    dev.advance_to(NS_PER_S)
    assert rtc.read(0x50, 4) & 1 << 2 and dev.line(2)
    assert dev.take("rtc", "wakeup") == [{"count": 1}]
    rtc.write(0x5C, 4, 1 << 2)  # SCR: clear WUTF (not write-protected)
    assert not dev.line(2)
    dev.advance_to(2 * NS_PER_S)
    assert dev.line(2)
    rtc.reset()  # a system reset: the RTC keeps running, the line is driven again
    assert dev.line(2)
    rtc.write(0x5C, 4, 1 << 2)
    dev.advance_to(3 * NS_PER_S)
    assert dev.line(2)


def test_rtc_wakeup_from_the_1hz_clock(dev: FakeDevice) -> None:
    rtc = Rtc(dev)
    _unlock(rtc)
    rtc.write(0x14, 4, 9)
    rtc.write(0x18, 4, 4 | WUTE)  # ck_spre: 10 s
    dev.advance_to(10 * NS_PER_S)
    assert rtc.read(0x50, 4) & 1 << 2
    assert not dev.line(2)  # WUTIE off


def test_rtc_calendar_runs_on_virtual_time(dev: FakeDevice) -> None:
    rtc = Rtc(dev)
    assert rtc.read(0x04, 4) == 0x2101 and rtc.read(0x00, 4) == 0
    _unlock(rtc)
    rtc.write(0x0C, 4, 1 << 7)  # INIT
    assert rtc.read(0x0C, 4) & 1 << 6  # INITF
    rtc.write(0x00, 4, 0x12_34_56)
    rtc.write(0x04, 4, 0x24 << 16 | 5 << 13 | 0x03 << 8 | 0x15)  # Friday 2024-03-15
    rtc.write(0x0C, 4, 0)
    dev.advance_to(5 * NS_PER_S)
    assert rtc.read(0x00, 4) == 0x12_35_01
    assert rtc.read(0x04, 4) == 0x24 << 16 | 5 << 13 | 0x03 << 8 | 0x15
    assert rtc.read(0x0C, 4) & (1 << 4 | 1 << 5) == 1 << 4 | 1 << 5  # INITS, RSF


class FakeBackup:
    def __init__(self) -> None:
        self.values = [0] * 32

    def read(self, index: int) -> int:
        return self.values[index]

    def write(self, index: int, value: int) -> None:
        self.values[index] = value


def test_tamp_backup_registers_persist_in_the_given_store(dev: FakeDevice) -> None:
    store = FakeBackup()
    tamp = Tamp(dev, store)
    tamp.write(0x10C, 4, 0xDEAD_BEEF)  # BKP3R
    assert store.values[3] == 0xDEAD_BEEF
    tamp.write(0x17C, 2, 0x1234)  # BKP31R, low half
    tamp.reset()
    again = Tamp(FakeDevice(), store)
    assert again.read(0x10C, 4) == 0xDEAD_BEEF
    assert again.read(0x17C, 4) == 0x1234
    assert again.read(0x10E, 2) == 0xDEAD
    plain = Tamp(dev, None)
    plain.write(0x100, 4, 7)
    assert plain.read(0x100, 4) == 7
