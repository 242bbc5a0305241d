"""Where things live in the secure half of internal flash and in QSPI: one table, shared by all."""

from __future__ import annotations

from dataclasses import dataclass

from .flash import INTERNAL_PAGE_SIZE
from .memory_map import KIB, MIB
from .qspi import QSPI_SECTOR_SIZE


@dataclass(frozen=True)
class Region:
    """A byte range [offset, offset + size) of one flash array."""

    offset: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size


# Internal flash, secure half (the application's MiB starts at 0x100000).
KERNEL_IMAGE = Region(0x000000, 768 * KIB)  # the signed kernel bundle, length-prefixed
ROM_JOURNAL = Region(0x0C0000, 2 * INTERNAL_PAGE_SIZE)  # the ROM's update journal (A/B record)
APP_RECORD = Region(0x0C4000, 4 * INTERNAL_PAGE_SIZE)  # the installed application's manifest
IDENTITY = Region(0x0CC000, 2 * INTERNAL_PAGE_SIZE)  # device key, certificate, customer key
KERNEL_STATE = Region(0x0D0000, 2 * INTERNAL_PAGE_SIZE)  # wake reason and other kernel facts
CRASH_REPORTS = Region(0x0D4000, 8 * INTERNAL_PAGE_SIZE)  # crash reports not yet delivered
SFI_RECORD = Region(0x0E4000, 2 * INTERNAL_PAGE_SIZE)  # the factory install's card, nonce and authorization

# QSPI: staged updates first, then the application's own partition (mvExternalFlash*).
STAGING = Region(0x0000000, 8 * MIB)
APP_PARTITION = Region(0x0800000, 56 * MIB)
# The factory's SPI image (common/spi_image.py) is written at the start of the application's
# partition, clear of staging (the kernel stages the application from it); erased once the device passes.
FACTORY_IMAGE = Region(APP_PARTITION.offset, 16 * MIB)

assert all(r.offset % INTERNAL_PAGE_SIZE == 0 and r.size % (2 * INTERNAL_PAGE_SIZE) == 0
           for r in (ROM_JOURNAL, APP_RECORD, IDENTITY, KERNEL_STATE, CRASH_REPORTS, SFI_RECORD))
assert STAGING.size % QSPI_SECTOR_SIZE == 0 and APP_PARTITION.offset == STAGING.end
