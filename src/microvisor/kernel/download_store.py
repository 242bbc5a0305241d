"""Update chunks on their way in, kept in QSPI: a cut link or lost power never fetches a stored chunk twice.

The store uses the upper half of the QSPI staging region (an application bundle needs well under the
lower half). Layout, all sector-aligned:

- header (HEADER_SECTORS sectors): magic, length, then the plan as JSON — the manifest hash and, per
  layer to fetch, its hash, size, chunk size and chunk hashes. The magic is programmed last (commit).
- map (one sector): one byte per chunk, 0xFF until the chunk is stored and verified, then 0x00.
- slots: chunk i at its own whole sectors, AES-CTR encrypted with a key derived from the chip's
  hardware key (the nonce from the manifest hash and the chunk's index).

A chunk is programmed first and marked in the map after, so power lost in between leaves it unmarked;
its slot is erased again before it is written anew. A marked chunk is trusted only once it has been read
back and found to match its hash (when the store opens, or `begin` resumes a plan): a damaged one is
fetched and written again.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..device.flash_layout import STAGING, Region
from ..device.qspi import QSPI_SECTOR_SIZE
from ..device.state import DeviceState

DOWNLOAD = Region(STAGING.offset + STAGING.size // 2, STAGING.size // 2)
HEADER_SECTORS = 16
MAGIC = b"MVDLOAD1"
_HEADER = struct.Struct("<8sI")
MAP_OFFSET = DOWNLOAD.offset + HEADER_SECTORS * QSPI_SECTOR_SIZE
SLOTS_OFFSET = MAP_OFFSET + QSPI_SECTOR_SIZE
MAX_CHUNKS = QSPI_SECTOR_SIZE


class DownloadStoreError(Exception):
    """A plan the store cannot hold; the message says why."""


@dataclass(frozen=True)
class LayerPlan:
    """One blob to fetch: a layer, or a patch (common/delta.py) that makes the layer `patches` names."""

    hash: str
    size: int
    chunk_size: int
    chunks: tuple[str, ...]  # SHA-256 hex of each chunk
    patches: str = ""  # for a patch: the hash of the layer it makes
    patched_size: int = 0  # and that layer's size

    def chunk_length(self, index: int) -> int:
        return min(self.chunk_size, self.size - index * self.chunk_size)


@dataclass(frozen=True)
class Plan:
    """What to fetch for one update: its manifest hash and the layers the device lacks."""

    manifest_hash: str
    layers: tuple[LayerPlan, ...]

    def to_json(self) -> bytes:
        layers = [layer.__dict__ | {"chunks": list(layer.chunks)} for layer in self.layers]
        return json.dumps({"manifest_hash": self.manifest_hash, "layers": layers}, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Plan:
        data: dict[str, Any] = json.loads(raw)
        return cls(str(data["manifest_hash"]),
                   tuple(LayerPlan(str(layer["hash"]), int(layer["size"]), int(layer["chunk_size"]),
                                   tuple(layer["chunks"]), str(layer.get("patches", "")),
                                   int(layer.get("patched_size", 0))) for layer in data["layers"]))

    def chunk_ids(self) -> list[tuple[int, int]]:
        """(layer position, chunk index) of every chunk, in order: the store's numbering."""
        return [(position, index) for position, layer in enumerate(self.layers)
                for index in range(len(layer.chunks))]


class DownloadStore:
    """The chunks of one plan in QSPI."""

    def __init__(self, state: DeviceState):
        self.qspi = state.qspi
        self._key = HKDF(hashes.SHA256(), 32, salt=None, info=b"mv-qspi-download-v1").derive(
            state.option_bytes.hardware_key)
        self._slots: dict[tuple[int, int], int] = {}  # chunk id -> its slot's first sector
        self._numbers: dict[tuple[int, int], int] = {}  # chunk id -> its byte in the map
        self._good: set[tuple[int, int]] = set()  # chunks marked, read back and matching their hash
        self.plan: Plan | None = self._read_plan()
        if self.plan is not None:
            self._lay_out(self.plan)
            self._good = self._check_marked()

    # --- plans --------------------------------------------------------------------------------
    def _read_plan(self) -> Plan | None:
        magic, length = _HEADER.unpack(self.qspi.read(DOWNLOAD.offset, _HEADER.size))
        if magic != MAGIC or not 0 < length <= HEADER_SECTORS * QSPI_SECTOR_SIZE - _HEADER.size:
            return None
        try:
            return Plan.from_json(self.qspi.read(DOWNLOAD.offset + _HEADER.size, length))
        except (ValueError, KeyError, TypeError):
            return None

    def _lay_out(self, plan: Plan) -> None:
        self._slots, self._numbers = {}, {}
        sector = SLOTS_OFFSET // QSPI_SECTOR_SIZE
        for number, (position, index) in enumerate(plan.chunk_ids()):
            layer = plan.layers[position]
            self._slots[(position, index)] = sector
            self._numbers[(position, index)] = number
            sector += -(-layer.chunk_size // QSPI_SECTOR_SIZE)
        if sector * QSPI_SECTOR_SIZE > DOWNLOAD.end:
            raise DownloadStoreError("the update does not fit the download area")

    def begin(self, plan: Plan) -> int:
        """Hold `plan`: keep what is stored when it is the plan already held, else start afresh.

        Returns how many chunks are stored already.
        """
        if self.plan == plan:
            self._good = self._check_marked()
            return len(self._good)
        raw = plan.to_json()
        if len(plan.chunk_ids()) > MAX_CHUNKS:
            raise DownloadStoreError(f"an update of more than {MAX_CHUNKS} chunks does not fit the "
                                     "download map")
        if _HEADER.size + len(raw) > HEADER_SECTORS * QSPI_SECTOR_SIZE:
            raise DownloadStoreError("the update's plan does not fit the download header")
        self.plan, self._good = None, set()
        self._lay_out(plan)
        self._erase(DOWNLOAD.offset, HEADER_SECTORS + 1)
        self.qspi.program_pages(DOWNLOAD.offset + _HEADER.size, raw)
        self.qspi.program(DOWNLOAD.offset, _HEADER.pack(MAGIC, len(raw)))
        self.plan = plan
        return 0

    def clear(self) -> None:
        """Forget the plan (erases the header's first sector only)."""
        if self.qspi.read(DOWNLOAD.offset, _HEADER.size) != b"\xff" * _HEADER.size:
            self.qspi.erase_sector(DOWNLOAD.offset // QSPI_SECTOR_SIZE)
        self.plan = None

    # --- chunks -------------------------------------------------------------------------------
    def have(self, position: int, index: int) -> bool:
        return (position, index) in self._good

    def _check_marked(self) -> set[tuple[int, int]]:
        """The chunks the map marks whose stored bytes still match their hash."""
        assert self.plan is not None
        good = set()
        for position, index in self.plan.chunk_ids():
            marked = self.qspi.read(MAP_OFFSET + self._numbers[(position, index)], 1) == b"\x00"
            if marked and hashlib.sha256(self.get(position, index)).hexdigest() == \
                    self.plan.layers[position].chunks[index]:
                good.add((position, index))
        return good

    def put(self, position: int, index: int, data: bytes) -> None:
        """Store a chunk already checked against its hash, then mark it."""
        assert self.plan is not None
        layer = self.plan.layers[position]
        sector = self._slots[(position, index)]
        self._erase(sector * QSPI_SECTOR_SIZE, -(-layer.chunk_size // QSPI_SECTOR_SIZE))
        self.qspi.program_pages(sector * QSPI_SECTOR_SIZE, self._crypt(position, index, data))
        mark = MAP_OFFSET + self._numbers[(position, index)]
        if self.qspi.read(mark, 1) != b"\x00":  # a damaged chunk written again is marked already
            self.qspi.program(mark, b"\x00")
        self._good.add((position, index))

    def get(self, position: int, index: int) -> bytes:
        assert self.plan is not None
        layer = self.plan.layers[position]
        sector = self._slots[(position, index)]
        stored = self.qspi.read(sector * QSPI_SECTOR_SIZE, layer.chunk_length(index))
        return self._crypt(position, index, stored)

    def layer_bytes(self, position: int) -> bytes:
        """A whole layer from its stored chunks (each checked against its hash again)."""
        assert self.plan is not None
        layer = self.plan.layers[position]
        parts = []
        for index, digest in enumerate(layer.chunks):
            data = self.get(position, index)
            if hashlib.sha256(data).hexdigest() != digest:
                raise DownloadStoreError(f"stored chunk {index} of layer {layer.hash[:16]} is damaged")
            parts.append(data)
        return b"".join(parts)

    def _crypt(self, position: int, index: int, data: bytes) -> bytes:
        assert self.plan is not None
        nonce = hashlib.sha256(f"{self.plan.manifest_hash}/{position}/{index}".encode()).digest()[:16]
        cipher = Cipher(algorithms.AES(self._key), modes.CTR(nonce)).encryptor()
        return cipher.update(data) + cipher.finalize()

    def _erase(self, offset: int, sectors: int) -> None:
        self.qspi.erase_dirty(offset, sectors * QSPI_SECTOR_SIZE)
