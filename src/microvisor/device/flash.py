"""NOR flash arrays backed by files, and the one counter every program/erase goes through."""

from __future__ import annotations

import logging
import mmap
from pathlib import Path
from typing import Self

from .memory_map import FLASH_SIZE

log = logging.getLogger(__name__)

# The STM32U585's internal flash: 2 MiB in 8 KiB pages, programmed a quad-word (16 bytes) at a time.
INTERNAL_FLASH_SIZE = FLASH_SIZE
INTERNAL_PAGE_SIZE = 8192
INTERNAL_PROGRAM_UNIT = 16

# bytes.translate table that flips every bit (used for inverted storage).
_INVERT = bytes(b ^ 0xFF for b in range(256))


class FlashError(Exception):
    """A flash operation that the hardware would refuse (alignment, bounds, NOR rules)."""


class PowerCut(Exception):
    """The simulated power went off: raised after the write at which the cut was armed."""


class WriteCounter:
    """The one place every program/erase of every flash passes: counts writes, cuts power."""

    def __init__(self, power_cut_after: int | None = None):
        if power_cut_after is not None and power_cut_after < 1:
            raise ValueError(f"power_cut_after must be at least 1, not {power_cut_after}")
        # Public and writable: a test may re-arm the cut, e.g. counter.count + 3.
        self.power_cut_after = power_cut_after
        self._count = 0
        self._cut = False

    @property
    def count(self) -> int:
        """Number of program/erase operations applied so far."""
        return self._count

    @property
    def power_is_cut(self) -> bool:
        return self._cut

    def ensure_powered(self) -> None:
        """Raise PowerCut if the power is already off; called before applying an operation."""
        if self._cut:
            raise PowerCut(f"power is off since write {self._count}; no further writes happen")

    def tick(self, what: str = "write") -> None:
        """Count one operation, already applied and persisted; cut power if it is the armed one."""
        self._count += 1
        log.debug("flash write %d: %s", self._count, what)
        if self.power_cut_after is not None and self._count >= self.power_cut_after:
            self._cut = True
            log.info("power cut after write %d (%s)", self._count, what)
            raise PowerCut(f"power cut after write {self._count} ({what})")


class NorFlash:
    """A NOR array: erase sets whole pages to the erased value, program only moves bits away from it.

    Storage is a shared mmap of the backing file (an anonymous mapping when path is None), so
    every operation lands in the file's page cache at once and survives the process being killed;
    flush() forces it to disk. With inverted_storage the file holds every byte XOR 0xFF, so erased
    flash is zeros, which a sparse file stores as holes (no disk used).
    """

    def __init__(
        self,
        path: Path | None,
        size: int,
        page_size: int,
        program_unit: int,
        counter: WriteCounter,
        erased_value: int = 0xFF,
        *,
        require_erased_unit: bool = False,
        inverted_storage: bool = False,
        name: str = "flash",
    ):
        if size <= 0 or page_size <= 0 or size % page_size:
            raise ValueError(f"size {size} must be a positive multiple of page_size {page_size}")
        if program_unit <= 0 or page_size % program_unit:
            raise ValueError(f"page_size {page_size} must be a multiple of program_unit")
        if not 0 <= erased_value <= 0xFF:
            raise ValueError(f"erased_value {erased_value:#x} is not a byte")
        self.path = path
        self.size = size
        self.page_size = page_size
        self.program_unit = program_unit
        self.counter = counter
        self.erased_value = erased_value
        self.require_erased_unit = require_erased_unit
        self.inverted_storage = inverted_storage
        self.name = name
        # The byte value the storage holds for an erased byte.
        self._stored_erased = erased_value ^ 0xFF if inverted_storage else erased_value
        self._map = self._open_map()
        self._closed = False

    # -- storage ----------------------------------------------------------------------------

    def _open_map(self) -> mmap.mmap:
        if self.path is None:
            mapping = mmap.mmap(-1, self.size)  # shared anonymous: zero pages cost nothing
            if self._stored_erased:
                mapping[:] = bytes([self._stored_erased]) * self.size
            return mapping
        if not self.path.exists():
            self._create_file(self.path)
        actual = self.path.stat().st_size
        if actual != self.size:
            raise FlashError(f"{self.name}: {self.path} holds {actual} bytes, expected {self.size}")
        with open(self.path, "r+b") as f:
            return mmap.mmap(f.fileno(), self.size, access=mmap.ACCESS_WRITE)

    def _create_file(self, path: Path) -> None:
        log.info("creating erased %s backing file %s (%d bytes)", self.name, path, self.size)
        with open(path, "wb") as f:
            if self._stored_erased == 0:
                f.truncate(self.size)  # a hole: sparse, no disk blocks
            else:
                f.write(bytes([self._stored_erased]) * self.size)

    def _load(self, offset: int, length: int) -> bytes:
        raw = self._map[offset : offset + length]
        return raw.translate(_INVERT) if self.inverted_storage else raw

    def _store(self, offset: int, data: bytes) -> None:
        self._map[offset : offset + len(data)] = (
            data.translate(_INVERT) if self.inverted_storage else data
        )

    def _fill_erased(self, offset: int, length: int) -> None:
        if self._stored_erased == 0 and self._release(offset, length):
            return
        self._map[offset : offset + length] = bytes([self._stored_erased]) * length

    def _release(self, offset: int, length: int) -> bool:
        """Punch a hole (zeros) where storage allows it, so erased flash costs no disk again."""
        advice = getattr(mmap, "MADV_REMOVE", None)
        if advice is None or offset % mmap.PAGESIZE or length % mmap.PAGESIZE:
            return False
        try:
            self._map.madvise(advice, offset, length)
        except OSError:
            return False
        return True

    # -- checks -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise FlashError(f"{self.name} is closed")

    def _check_range(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise FlashError(
                f"{self.name}: range {offset:#x}+{length:#x} is outside the array (size {self.size:#x})"
            )

    def _check_program(self, offset: int, old: bytes, data: bytes) -> None:
        """Refuse a program that would move a bit back to its erased state (and unit rules)."""
        n = len(data)
        erased = int.from_bytes(bytes([self.erased_value]) * n, "big")
        old_programmed = int.from_bytes(old, "big") ^ erased
        new_programmed = int.from_bytes(data, "big") ^ erased
        if old_programmed & ~new_programmed:
            at = next(
                i for i in range(n) if (old[i] ^ self.erased_value) & ~(data[i] ^ self.erased_value)
            )
            raise FlashError(
                f"{self.name}: program at {offset + at:#x} would set bits back to the erased state "
                f"(holds {old[at]:#04x}, asked {data[at]:#04x}); erase the page first"
            )
        if not self.require_erased_unit or old == data:
            return
        unit = self.program_unit
        erased_unit = bytes([self.erased_value]) * unit
        programmed_unit = bytes([self.erased_value ^ 0xFF]) * unit
        for i in range(0, n, unit):
            target, new = old[i : i + unit], data[i : i + unit]
            # Like the STM32U5's PROGERR: the quad-word must be erased, except when writing all
            # zeros over it. Rewriting identical data is accepted too (a model leniency).
            if target != erased_unit and new != programmed_unit and new != target:
                raise FlashError(
                    f"{self.name}: the {unit}-byte unit at {offset + i:#x} is not erased; "
                    "erase the page before programming it"
                )

    # -- operations -------------------------------------------------------------------------

    @property
    def page_count(self) -> int:
        return self.size // self.page_size

    def read(self, offset: int, length: int) -> bytes:
        self._check_open()
        self._check_range(offset, length)
        return self._load(offset, length)

    def view(self, offset: int, length: int) -> memoryview:
        """A read-only live view of the array (not for inverted storage): zero-copy mapping."""
        self._check_open()
        self._check_range(offset, length)
        if self.inverted_storage:
            raise FlashError(f"{self.name}: inverted storage has no direct view; use read()")
        return memoryview(self._map)[offset : offset + length].toreadonly()

    def program(self, offset: int, data: bytes) -> None:
        """Program data at offset: one operation; bits only move away from the erased state."""
        self._check_open()
        data = bytes(data)
        if not data:
            raise FlashError(f"{self.name}: nothing to program")
        if offset % self.program_unit or len(data) % self.program_unit:
            raise FlashError(
                f"{self.name}: program at {offset:#x} of {len(data)} bytes is not aligned to the "
                f"{self.program_unit}-byte programming unit"
            )
        self._check_range(offset, len(data))
        old = self._load(offset, len(data))
        self._check_program(offset, old, data)
        self.counter.ensure_powered()
        self._store(offset, data)
        self.counter.tick(f"{self.name} program {offset:#x}+{len(data):#x}")

    def erase_page(self, index: int) -> None:
        """Erase one page: one operation."""
        if not 0 <= index < self.page_count:
            raise FlashError(f"{self.name}: page {index} does not exist (0..{self.page_count - 1})")
        self.erase_span(index * self.page_size, self.page_size)

    def erase_span(self, offset: int, length: int) -> None:
        """Erase whole pages [offset, offset + length) as ONE operation (a block erase command)."""
        self._check_open()
        if offset % self.page_size or length % self.page_size or length == 0:
            raise FlashError(
                f"{self.name}: erase {offset:#x}+{length:#x} is not whole {self.page_size}-byte pages"
            )
        self._check_range(offset, length)
        self.counter.ensure_powered()
        stored_erased = bytes([self._stored_erased]) * length
        if self._map[offset : offset + length] != stored_erased:
            self._fill_erased(offset, length)
        self.counter.tick(f"{self.name} erase {offset:#x}+{length:#x}")

    def erase_dirty(self, offset: int, length: int) -> int:
        """Erase the pages covering [offset, offset + length) that are not already erased.

        One counted operation per page erased; returns how many were.
        """
        if offset % self.page_size:
            raise FlashError(f"{self.name}: erase at {offset:#x} is not page-aligned")
        self._check_range(offset, length)
        blank = bytes([self.erased_value]) * self.page_size
        erased = 0
        for start in range(offset, offset + length, self.page_size):
            if self.read(start, self.page_size) != blank:
                self.erase_page(start // self.page_size)
                erased += 1
        return erased

    def erase_range(self, offset: int, length: int) -> None:
        """Erase the whole pages [offset, offset + length), one counted operation per page."""
        if offset % self.page_size or length % self.page_size:
            raise FlashError(
                f"{self.name}: erase {offset:#x}+{length:#x} is not whole {self.page_size}-byte pages"
            )
        self._check_range(offset, length)
        for page_offset in range(offset, offset + length, self.page_size):
            self.erase_page(page_offset // self.page_size)

    def load_image(self, offset: int, data: bytes) -> int:
        """Write an image at a page-aligned offset the way firmware would: erase + program.

        The rest of the last page is left erased (what a region padded with the erased value, as
        measured, must hold). Pages that already hold exactly those bytes are left alone, whole
        pages compared, so damage anywhere in a page is repaired; already-erased pages are not
        erased again. Every erase and program is counted. Returns the number of operations performed.
        """
        if offset % self.page_size:
            raise FlashError(f"{self.name}: image offset {offset:#x} is not page-aligned")
        pad = -len(data) % self.page_size
        image = bytes(data) + bytes([self.erased_value]) * pad
        self._check_range(offset, len(image))
        erased_page = bytes([self.erased_value]) * self.page_size
        before = self.counter.count
        for start in range(0, len(image), self.page_size):
            chunk = image[start : start + self.page_size]
            current = self.read(offset + start, len(chunk))
            if current == chunk:
                continue
            if current != erased_page[: len(chunk)]:
                self.erase_page((offset + start) // self.page_size)
            # No need to program trailing erased units.
            used = len(chunk.rstrip(bytes([self.erased_value])))
            used += -used % self.program_unit
            if used:
                self.program(offset + start, chunk[:used])
        return self.counter.count - before

    def flush(self) -> None:
        """Force every applied operation to disk (msync)."""
        if not self._closed:
            self._map.flush()

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        try:
            self._map.close()
        except BufferError:
            # A view (app_flash_view, a CPU mapping) is still alive; the mapping goes with it.
            log.debug("%s: views still exported; mapping released when they are", self.name)
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
