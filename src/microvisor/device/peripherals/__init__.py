"""Memory-mapped peripherals of the virtual STM32U585."""

from __future__ import annotations

from collections.abc import Iterable

from ..bus import DeviceContext, Peripheral
from .gpio import PORTS, USER_LED_PIN, USER_LED_PORT, GpioPort
from .i2c import I2C_BUSES, I2c, I2cTarget
from .iwdg import Iwdg
from .rcc import FlashInterface, InstructionCache, Pwr, Rcc
from .rtc import BackupStore, MemoryBackupRegisters, Rtc, Tamp
from .spi import SPI_BUSES, Spi
from .timer import TIMERS, GeneralTimer
from .usart import SERIAL_PORTS, Usart

__all__ = [
    "USER_LED_PIN",
    "USER_LED_PORT",
    "BackupStore",
    "FlashInterface",
    "GeneralTimer",
    "GpioPort",
    "I2c",
    "I2cTarget",
    "InstructionCache",
    "Iwdg",
    "MemoryBackupRegisters",
    "Pwr",
    "Rcc",
    "Rtc",
    "Spi",
    "Tamp",
    "Usart",
    "build_peripherals",
    "find",
]


def build_peripherals(ctx: DeviceContext, backup: BackupStore | None = None) -> list[Peripheral]:
    """Every modelled peripheral, each at its non-secure base; `backup` holds BKP0R..BKP31R.

    RCC, PWR and FLASH reset to the clock tree the microvisor leaves (160 MHz from PLL1).
    """
    peripherals: list[Peripheral] = [GpioPort(ctx, port) for port in PORTS]
    peripherals += [Usart(ctx, spec) for spec in SERIAL_PORTS]
    peripherals += [Rcc(ctx, started=True), Pwr(ctx, started=True), FlashInterface(ctx, started=True),
                    InstructionCache(ctx)]
    peripherals += [I2c(ctx, spec) for spec in I2C_BUSES]
    peripherals += [Spi(ctx, spec) for spec in SPI_BUSES]
    peripherals += [GeneralTimer(ctx, spec) for spec in TIMERS]
    peripherals += [Rtc(ctx), Tamp(ctx, backup), Iwdg(ctx)]
    return peripherals


def find(peripherals: Iterable[Peripheral], name: str) -> Peripheral:
    """The peripheral called `name` ("GPIOA", "USART2", "TIM2", ...)."""
    for peripheral in peripherals:
        if peripheral.name == name:
            return peripheral
    raise KeyError(f"no peripheral named {name!r}")
