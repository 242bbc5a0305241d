"""The QSPI staging area: one update (app or kernel bundle), encrypted with a device-unique key."""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .flash_layout import STAGING
from .qspi import QSPI_SECTOR_SIZE
from .state import DeviceState

MAGIC = b"MVSTAGE1"
HEADER = struct.Struct("<8sBxxxI12s32s")  # magic, kind, length, nonce, SHA-256 of the ciphertext
KIND_APP, KIND_KERNEL = 1, 2
KIND_NAMES = {KIND_APP: "app", KIND_KERNEL: "kernel"}
CAPACITY = STAGING.size - QSPI_SECTOR_SIZE


class StagingError(Exception):
    """Staged data that cannot be used: the message says why (it is then discarded)."""


@dataclass
class Staged:
    kind: int
    payload: bytes

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, f"kind {self.kind}")


class Staging:
    """Header sector first, ciphertext after it; the header is programmed last, so it commits."""

    def __init__(self, state: DeviceState):
        self.qspi = state.qspi
        self._aead = AESGCM(HKDF(hashes.SHA256(), 32, salt=None, info=b"mv-qspi-staging-v1")
                            .derive(state.option_bytes.hardware_key))

    def _header(self) -> tuple[int, int, bytes, bytes] | None:
        magic, kind, length, nonce, digest = HEADER.unpack(self.qspi.read(STAGING.offset, HEADER.size))
        if magic != MAGIC:
            return None
        return kind, length, nonce, digest

    def present(self) -> bool:
        return self._header() is not None

    def describe(self) -> dict:
        header = self._header()
        if header is None:
            return {"staged": False}
        kind, length, _, _ = header
        return {"staged": True, "kind": KIND_NAMES.get(kind, str(kind)), "bytes": length}

    def read(self) -> Staged | None:
        """The staged update, decrypted and authenticated; None when nothing is staged."""
        header = self._header()
        if header is None:
            return None
        kind, length, nonce, digest = header
        if kind not in KIND_NAMES:
            raise StagingError(f"staging holds an unknown kind of update ({kind})")
        if not 0 < length <= CAPACITY:
            raise StagingError(f"staging header gives an impossible length ({length})")
        ciphertext = self.qspi.read(STAGING.offset + QSPI_SECTOR_SIZE, length)
        if hashlib.sha256(ciphertext).digest() != digest:
            raise StagingError("staged data is incomplete or damaged")
        try:
            payload = self._aead.decrypt(nonce, ciphertext, HEADER.pack(MAGIC, kind, length, nonce, b""))
        except InvalidTag:
            raise StagingError("staged data does not decrypt with this device's key") from None
        return Staged(kind, payload)

    def write(self, kind: int, payload: bytes) -> None:
        """Stage payload, replacing whatever was staged (raises PowerCut if power goes)."""
        nonce = os.urandom(12)
        aad = HEADER.pack(MAGIC, kind, len(payload) + 16, nonce, b"")
        ciphertext = self._aead.encrypt(nonce, payload, aad)
        if len(ciphertext) > CAPACITY:
            raise StagingError(f"an update of {len(payload)} bytes does not fit the "
                               f"{CAPACITY}-byte staging area")
        self.clear()
        start = STAGING.offset + QSPI_SECTOR_SIZE
        self.qspi.erase_dirty(start, len(ciphertext))
        self.qspi.program_pages(start, ciphertext)
        self.qspi.program(STAGING.offset, HEADER.pack(MAGIC, kind, len(ciphertext), nonce,
                                                      hashlib.sha256(ciphertext).digest()))

    def clear(self) -> None:
        """Discard the staged update (erases the header sector only)."""
        if self.qspi.read(STAGING.offset, HEADER.size) != b"\xff" * HEADER.size:
            self.qspi.erase_sector(STAGING.offset // QSPI_SECTOR_SIZE)
