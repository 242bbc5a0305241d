"""The external QSPI/OctoSPI NOR flash: a Macronix MX25LM51245G as on ST's B-U585I-IOT02A."""

from __future__ import annotations

from pathlib import Path

from .flash import FlashError, NorFlash, WriteCounter

# Facts of the part (ST's BSP component driver and Linux's spi-nor table, "mx25lm51245g"):
# 512 Mbit = 64 MiB; 4 KiB sectors, 64 KiB blocks, 256-byte program pages; JEDEC ID C2 85 3A
# (manufacturer Macronix C2h, memory type 85h, density 3Ah).
QSPI_SIZE = 64 * 1024 * 1024
QSPI_SECTOR_SIZE = 4096
QSPI_BLOCK_SIZE = 65536
QSPI_PAGE_SIZE = 256
QSPI_JEDEC_ID = bytes((0xC2, 0x85, 0x3A))
# A board's QSPI faults, for factory tests (`device blank --fault`): no part answers; a part that
# reports half the capacity (density 39h: 256 Mbit); a data line stuck low from 32 MiB up.
QSPI_FAULTS = ("qspi-missing", "qspi-wrong-size", "qspi-stuck")
_STUCK_FROM = 32 * 1024 * 1024


class QspiFlash:
    """The external NOR flash: page program (≤ 256 bytes within one page), sector/block erase.

    Backing file: inverted representation (each byte stored XOR 0xFF) in a sparse file, so the
    erased state is zeros, i.e. holes: a mostly erased 64 MiB part costs almost no disk, and an
    erase punches the holes back where the filesystem allows it.
    """

    def __init__(self, path: Path | None, counter: WriteCounter, fault: str | None = None):
        if fault is not None and fault not in QSPI_FAULTS:
            raise FlashError(f"qspi: unknown fault {fault!r}")
        self.fault = fault
        self._nor = NorFlash(
            path,
            QSPI_SIZE,
            QSPI_SECTOR_SIZE,
            1,
            counter,
            inverted_storage=True,
            name="qspi",
        )

    @property
    def jedec_id(self) -> bytes:
        if self.fault == "qspi-missing":
            return b"\xff\xff\xff"  # nothing drives the data lines
        if self.fault == "qspi-wrong-size":
            return QSPI_JEDEC_ID[:2] + b"\x39"
        return QSPI_JEDEC_ID

    @property
    def size(self) -> int:
        return QSPI_SIZE

    @property
    def sector_size(self) -> int:
        return QSPI_SECTOR_SIZE

    @property
    def block_size(self) -> int:
        return QSPI_BLOCK_SIZE

    @property
    def page_size(self) -> int:
        return QSPI_PAGE_SIZE

    @property
    def path(self) -> Path | None:
        return self._nor.path

    @property
    def counter(self) -> WriteCounter:
        return self._nor.counter

    def read(self, offset: int, length: int) -> bytes:
        data = self._nor.read(offset, length)
        if self.fault == "qspi-missing":
            return b"\xff" * length
        if self.fault == "qspi-stuck" and offset + length > _STUCK_FROM:
            skip = max(_STUCK_FROM - offset, 0)
            data = data[:skip] + bytes(b & 0xFE for b in data[skip:])
        return data

    def _answering(self) -> None:
        if self.fault == "qspi-missing":
            raise FlashError("qspi: no flash part answers")

    def program(self, offset: int, data: bytes) -> None:
        """Page program: 1..256 bytes that do not cross a 256-byte page boundary; one write."""
        length = len(data)
        if not 0 < length <= QSPI_PAGE_SIZE:
            raise FlashError(f"qspi: page program takes 1..{QSPI_PAGE_SIZE} bytes, not {length}")
        if offset // QSPI_PAGE_SIZE != (offset + length - 1) // QSPI_PAGE_SIZE:
            raise FlashError(
                f"qspi: page program at {offset:#x} of {length} bytes crosses a "
                f"{QSPI_PAGE_SIZE}-byte page boundary"
            )
        self._answering()
        self._nor.program(offset, data)

    def program_pages(self, offset: int, data: bytes) -> None:
        """Program any span as successive page programs split at page boundaries."""
        position = 0
        while position < len(data):
            room = QSPI_PAGE_SIZE - (offset + position) % QSPI_PAGE_SIZE
            self.program(offset + position, data[position : position + room])
            position += room

    def erase_sector(self, index: int) -> None:
        """Erase one 4 KiB sector: one write."""
        self._answering()
        self._nor.erase_page(index)

    def erase_dirty(self, offset: int, length: int) -> int:
        """Erase the sectors covering [offset, offset + length) that are not blank; one write each."""
        self._answering()
        return self._nor.erase_dirty(offset, length)

    def erase_block(self, index: int) -> None:
        """Erase one 64 KiB block: one write."""
        if not 0 <= index < QSPI_SIZE // QSPI_BLOCK_SIZE:
            raise FlashError(f"qspi: block {index} does not exist")
        self._answering()
        self._nor.erase_span(index * QSPI_BLOCK_SIZE, QSPI_BLOCK_SIZE)

    def flush(self) -> None:
        self._nor.flush()

    def close(self) -> None:
        self._nor.close()
