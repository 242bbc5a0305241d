"""The STM32U585 address map as the application sees it, and how to classify an address."""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB

# Internal flash: 2 MiB. The secure half (first MiB) holds the kernel; the non-secure half is the
# application's flash, which the application sees at 0x08000000 (the published SDK's linker script).
FLASH_NS_BASE = 0x0800_0000
FLASH_S_BASE = 0x0C00_0000
FLASH_SIZE = 2 * MIB
APP_FLASH_BASE = FLASH_NS_BASE
APP_FLASH_SIZE = 1 * MIB

SRAM_BASE = 0x2000_0000
SRAM_SIZE = 512 * KIB

# Non-Secure-Callable veneers of the microvisor (the system calls).
NSC_BASE = 0x0C1F_E000
NSC_SIZE = 0x1000

PERIPH_NS_BASE = 0x4000_0000
PERIPH_NS_END = 0x5000_0000
SCS_BASE = 0xE000_E000
SCS_SIZE = 0x1000
PPB_BASE = 0xE000_0000
PPB_END = 0xE010_0000

CORE_HZ = 160_000_000

# Number of external interrupt lines of the STM32U585 (IRQn 0 .. 125, LSECSSD last).
IRQ_COUNT = 126

# Secure aliases: code, SRAM and peripherals seen through their secure addresses.
_SECURE_RANGES = (
    (0x0C00_0000, 0x1000_0000),
    (0x3000_0000, 0x4000_0000),
    (0x5000_0000, 0x6000_0000),
)


@dataclass(frozen=True)
class Region:
    """A named address range [start, start + size)."""

    name: str
    start: int
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size

    def contains(self, address: int, length: int = 1) -> bool:
        return self.start <= address and address + length <= self.end


APP_FLASH = Region("flash", APP_FLASH_BASE, APP_FLASH_SIZE)
SRAM = Region("sram", SRAM_BASE, SRAM_SIZE)
APP_REGIONS = (APP_FLASH, SRAM)


def is_secure_address(address: int) -> bool:
    """True for addresses that belong to the secure world (the microvisor)."""
    return any(lo <= address < hi for lo, hi in _SECURE_RANGES)


def is_app_memory(address: int, length: int) -> bool:
    """True when [address, address + length) lies wholly inside application flash or SRAM."""
    if length < 0 or address < 0:
        return False
    return any(r.contains(address, max(length, 1)) for r in APP_REGIONS)


def is_app_ram(address: int, length: int) -> bool:
    """True when [address, address + length) lies wholly inside application SRAM."""
    return length >= 0 and address >= 0 and SRAM.contains(address, max(length, 1))
