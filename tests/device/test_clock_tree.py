"""The clock tree as the microvisor leaves it: ST's published formulas read 160 MHz from the registers."""

from __future__ import annotations

import re
from collections.abc import Callable


from microvisor.device.machine import Device

RCC, PWR, FLASH_R = 0x4602_0C00, 0x4602_0800, 0x4002_2000
CR, ICSCR1, CFGR1, CFGR2, CFGR3 = 0x00, 0x08, 0x1C, 0x20, 0x24
PLL1CFGR, PLL1DIVR, PLL1FRACR, CSR = 0x28, 0x34, 0x38, 0xF4
VOSR, ACR = 0x0C, 0x00
HSI16_HZ, HSE_HZ = 16_000_000, 16_000_000
MSI_HZ = (48_000_000, 24_000_000, 16_000_000, 12_000_000, 4_000_000, 2_000_000, 1_500_000, 1_000_000,
          3_072_000, 1_536_000, 1_024_000, 768_000, 400_000, 200_000, 150_000, 100_000)
AHB_SHIFT = (0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 6, 7, 8, 9)
APB_SHIFT = (0, 0, 0, 0, 1, 2, 3, 4)


def clocks(read: Callable[[int], int]) -> dict[str, int]:
    """SYSCLK, HCLK and PCLK1..3 as ST's HAL computes them from the RCC registers (`read(offset)`)."""
    if read(ICSCR1) >> 23 & 1:  # MSIRGSEL: the range in ICSCR1, else the one in CSR
        msis = MSI_HZ[read(ICSCR1) >> 28 & 0xF]
    else:
        msis = MSI_HZ[read(CSR) >> 12 & 0xF]
    sws = read(CFGR1) >> 2 & 3
    if sws == 3:
        cfgr, divr = read(PLL1CFGR), read(PLL1DIVR)
        source = {0: 0, 1: msis, 2: HSI16_HZ, 3: HSE_HZ}[cfgr & 3]
        m, n, r = (cfgr >> 8 & 0xF) + 1, divr & 0x1FF, (divr >> 24 & 0x7F) + 1
        fracn = read(PLL1FRACR) >> 3 & 0x1FFF if cfgr >> 4 & 1 else 0
        sysclk = source * ((n + 1) * 8192 + fracn) // m // 8192 // r
    else:
        sysclk = (msis, HSI16_HZ, HSE_HZ)[sws]
    hclk = sysclk >> AHB_SHIFT[read(CFGR2) & 0xF]
    return {"sysclk": sysclk, "hclk": hclk, "pclk1": hclk >> APB_SHIFT[read(CFGR2) >> 4 & 7],
            "pclk2": hclk >> APB_SHIFT[read(CFGR2) >> 8 & 7],
            "pclk3": hclk >> APB_SHIFT[read(CFGR3) >> 4 & 7]}


def _rcc(device: Device) -> Callable[[int], int]:
    return lambda offset: device.bus_read32(RCC + offset)


def test_registers_after_reset_read_as_on_a_started_device(device: Device) -> None:
    rcc = _rcc(device)
    assert rcc(CR) & (1 << 24 | 1 << 25) == 1 << 24 | 1 << 25  # PLL1ON, PLL1RDY
    assert rcc(CR) & 0b101 == 0b101  # MSIS (PLL1's source) on and ready
    assert rcc(CFGR1) & 0xF == 0xF  # SW = SWS = PLL1
    assert rcc(CFGR2) == 0 and rcc(CFGR3) == 0  # AHB, APB1, APB2, APB3 undivided
    assert rcc(PLL1CFGR) == 1 | 1 << 18  # source MSIS, M = 1, input range 4-8 MHz, R output on
    assert rcc(PLL1DIVR) == 79 | 1 << 9 | 1 << 16 | 1 << 24  # N = 80, P = Q = R = 2
    vosr = device.bus_read32(PWR + VOSR)
    assert vosr >> 16 & 3 == 3  # voltage range 1
    assert vosr & (1 << 14 | 1 << 15 | 1 << 18) == 1 << 14 | 1 << 15 | 1 << 18  # VOSRDY, BOOST*
    assert device.bus_read32(PWR + 0x3C) >> 16 & 3 == 3  # SVMSR.ACTVOS follows
    assert device.bus_read32(FLASH_R + ACR) & 0xF == 4  # 4 wait states for 160 MHz in range 1


def test_the_published_formula_gives_160_mhz(device: Device) -> None:
    assert clocks(_rcc(device)) == dict.fromkeys(("sysclk", "hclk", "pclk1", "pclk2", "pclk3"),
                                                 160_000_000)


def test_application_writes_still_act_and_a_reset_restores_the_tree(device: Device) -> None:
    device.bus_write32(RCC + CR, device.bus_read32(RCC + CR) | 1 << 8)  # HSION
    assert device.bus_read32(RCC + CR) & 1 << 10  # HSIRDY follows
    device.bus_write32(RCC + CFGR1, 1)  # SW = HSI16
    assert device.bus_read32(RCC + CFGR1) & 0xF == 0b0101
    device.bus_write32(RCC + CFGR2, 0b1000 | 0b100 << 4)  # HCLK = SYSCLK / 2, PCLK1 = HCLK / 2
    assert clocks(_rcc(device)) == {"sysclk": 16_000_000, "hclk": 8_000_000, "pclk1": 4_000_000,
                                    "pclk2": 8_000_000, "pclk3": 8_000_000}
    device.bus_write32(RCC + CR, device.bus_read32(RCC + CR) & ~(1 << 24))  # PLL1 off
    assert not device.bus_read32(RCC + CR) & 1 << 25
    device.reset("sysresetreq")
    assert clocks(_rcc(device))["hclk"] == 160_000_000
    assert device.bus_read32(RCC + CR) & 1 << 25


def test_an_application_computes_160_mhz_through_the_microvisor(device_apps, device_run) -> None:
    run = device_run(device_apps / "clock_tree" / "clock_tree.elf")
    run.run()
    assert run.failures() == []
    assert run.lines and re.fullmatch(r"DONE pass=\d+ fail=0", run.lines[-1]), run.lines[-3:]
    assert {"clock/sysclk-is-pll1", "clock/pll1-on-and-ready", "clock/sysclk", "clock/hclk",
            "clock/pclk1", "clock/pclk2", "clock/pclk3", "clock/agrees-with-mvGetHClk",
            "clock/voltage-range-1", "clock/flash-wait-states"} <= run.passed()
