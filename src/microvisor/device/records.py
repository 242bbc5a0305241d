"""A/B record slots in internal flash: a write either lands whole or leaves the previous record."""

from __future__ import annotations

import hashlib
import struct

from .flash import NorFlash
from .flash_layout import Region

MAGIC = b"MVR1"
HEADER = struct.Struct("<4sII32s")  # magic, sequence, payload length, SHA-256 of payload


class RecordError(Exception):
    """A record that does not fit its slot."""


class RecordSlot:
    """One named record kept in two halves of a region; the valid half with the higher sequence wins.

    A write goes to the other half (erase, then program), so power lost during it leaves the
    previous record readable: the torn half fails its hash and is ignored.
    """

    def __init__(self, flash: NorFlash, region: Region):
        self.flash = flash
        self.half = region.size // 2
        self.halves = (region.offset, region.offset + self.half)

    @property
    def capacity(self) -> int:
        return self.half - HEADER.size

    def _parse(self, offset: int) -> tuple[int, bytes] | None:
        magic, sequence, length, digest = HEADER.unpack(self.flash.read(offset, HEADER.size))
        if magic != MAGIC or length > self.capacity:
            return None
        payload = self.flash.read(offset + HEADER.size, length)
        if hashlib.sha256(payload).digest() != digest:
            return None
        return sequence, payload

    def _newest(self) -> tuple[int, int, bytes] | None:
        """(half index, sequence, payload) of the newest valid half, or None."""
        found = [(seq, index, payload) for index, offset in enumerate(self.halves)
                 if (parsed := self._parse(offset)) is not None for seq, payload in [parsed]]
        if not found:
            return None
        sequence, index, payload = max(found)
        return index, sequence, payload

    def read(self) -> bytes | None:
        """The newest complete record, or None when there is none."""
        newest = self._newest()
        return None if newest is None else newest[2]

    def write(self, payload: bytes) -> None:
        """Store payload as the new record (raises PowerCut if power goes during it)."""
        if len(payload) > self.capacity:
            raise RecordError(f"record of {len(payload)} bytes exceeds the slot's {self.capacity}")
        newest = self._newest()
        if newest is not None and newest[2] == payload:
            return
        index, sequence = (0, 0) if newest is None else (1 - newest[0], newest[1])
        offset = self.halves[index]
        record = HEADER.pack(MAGIC, sequence + 1, len(payload), hashlib.sha256(payload).digest())
        record += payload
        record += b"\xff" * (-len(record) % self.flash.program_unit)
        self._erase(offset, len(record))
        self.flash.program(offset, record)

    def clear(self) -> None:
        """Forget the record (both halves erased)."""
        for offset in self.halves:
            self._erase(offset, self.half)

    def _erase(self, offset: int, length: int) -> None:
        self.flash.erase_dirty(offset, length)
