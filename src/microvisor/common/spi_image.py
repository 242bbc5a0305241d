"""The factory's SPI-flash image: a root-anchored, signed table of contents and four parts.

Layout (every number little-endian; offsets from the image's first byte):

    0      8 bytes  magic "MVSPIIMG"
    8      u32      length T of the table of contents
    12     T bytes  the table of contents: canonical JSON (sorted keys, no spaces)
    12+T   64 bytes ECDSA P-256 / SHA-256 signature (r || s) over "mv-spi-toc-v1\\0" + the table
    …      0xFF up to HEADER_SIZE (one 4 KiB QSPI sector)
    HEADER_SIZE…    the parts, each at a 4 KiB-aligned offset, 0xFF between them

The table names the signer (a kernel-signing key), the root key that delegated it (its SHA-256 is
what a device's OTP holds) with the root-signed NewKeys record, and each part's offset, size and
SHA-256. The parts are `test-program` and `kernel` (KernelManifest bundles), `test-bundle` and
`app-bundle` (application bundles); each is also verifiable on its own by its own manifest.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import keys

if TYPE_CHECKING:
    from .platform import Platform

MAGIC = b"MVSPIIMG"
SECTOR = 4096
HEADER_SIZE = SECTOR
MAX_IMAGE_SIZE = 16 * 1024 * 1024
TOC_PREFIX = b"mv-spi-toc-v1\0"
PARTS = ("test-program", "kernel", "test-bundle", "app-bundle")
KERNEL_PARTS = ("test-program", "kernel")
_PREAMBLE = struct.Struct("<8sI")

Reader = Callable[[int, int], bytes]  # (offset, length) -> bytes


class SpiImageError(Exception):
    """An SPI image that is malformed, damaged or not signed as it must be; the message says which."""


@dataclass(frozen=True)
class Part:
    name: str
    offset: int
    size: int
    sha256: bytes


@dataclass(frozen=True)
class SpiImage:
    """A verified table of contents: every part listed is inside the image and none overlap."""

    parts: dict[str, Part]
    root: bytes  # the root public key, X9.62
    signer: bytes  # the kernel-signing key that signed the table
    size: int  # bytes from the image's start to its last part's end
    toc_hash: str  # SHA-256 of the signed table: names this image

    def describe(self) -> dict[str, Any]:
        return {"toc_hash": self.toc_hash, "size": self.size,
                "root_key_hash": hashlib.sha256(self.root).hexdigest(),
                "signer_id": f"{keys.signer_id(self.signer):016x}",
                "parts": [{"name": p.name, "offset": p.offset, "size": p.size, "sha256": p.sha256.hex()}
                          for p in self.parts.values()]}


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def build(platform: Platform, parts: dict[str, bytes]) -> bytes:
    """The image for these four parts, its table signed by the platform's kernel-signing key."""
    from .bundle import delegate

    if sorted(parts) != sorted(PARTS):
        raise SpiImageError(f"an SPI image holds exactly these parts: {', '.join(PARTS)}")
    offset, listed, body = HEADER_SIZE, [], bytearray()
    for name in PARTS:
        data = parts[name]
        listed.append({"name": name, "offset": offset, "size": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()})
        padded = data + b"\xff" * (-len(data) % SECTOR)
        body += padded
        offset += len(padded)
    if offset > MAX_IMAGE_SIZE:
        raise SpiImageError(f"the parts make an image of {offset} bytes; at most {MAX_IMAGE_SIZE} fit")
    toc = _canonical({
        "format": 1, "parts": listed,
        "root": keys.raw_public(platform.root_key.public_key()).hex(),
        "kernel_signers": delegate(platform.root_key, [platform.kernel_key.public_key()])
        .SerializeToString(deterministic=True).hex(),
        "signer": keys.raw_public(platform.kernel_key.public_key()).hex(),
    })
    header = _PREAMBLE.pack(MAGIC, len(toc)) + toc + keys.sign(platform.kernel_key, TOC_PREFIX + toc)
    if len(header) > HEADER_SIZE:
        raise SpiImageError("the table of contents does not fit in the image's first sector")
    return header + b"\xff" * (HEADER_SIZE - len(header)) + bytes(body)


def read(reader: Reader, root_key_hash: bytes | None) -> SpiImage:
    """Read and verify the table of contents; root_key_hash None trusts the root the table names."""
    from .bundle import BundleError, delegated_signers

    magic, length = _PREAMBLE.unpack(reader(0, _PREAMBLE.size))
    if magic != MAGIC:
        raise SpiImageError("no SPI image here (wrong magic)")
    if length > HEADER_SIZE - _PREAMBLE.size - keys.SIGNATURE_SIZE:
        raise SpiImageError("the table of contents is longer than the header sector")
    raw = reader(_PREAMBLE.size, length + keys.SIGNATURE_SIZE)
    toc, signature = raw[:length], raw[length:]
    try:
        document = json.loads(toc)
        root = bytes.fromhex(document["root"])
        signer = bytes.fromhex(document["signer"])
        record = bytes.fromhex(document["kernel_signers"])
        listed = document["parts"]
        assert document["format"] == 1 and isinstance(listed, list)
    except (ValueError, KeyError, TypeError, AssertionError, RecursionError):
        raise SpiImageError("the table of contents is not the expected JSON") from None
    if root_key_hash is not None and hashlib.sha256(root).digest() != root_key_hash:
        raise SpiImageError("the image is anchored to another platform's root key")
    try:
        signers = delegated_signers(record, keys.from_raw_public(root))
        signer_key = keys.from_raw_public(signer)
    except (BundleError, keys.KeyFileError) as exc:
        raise SpiImageError(f"the image's signing key is not delegated by its root ({exc})") from None
    if keys.raw_public(signer_key) not in {keys.raw_public(k) for k in signers}:
        raise SpiImageError("the table of contents names a signer its root key did not delegate")
    if not keys.verify(signer_key, signature, TOC_PREFIX + toc):
        raise SpiImageError("the table of contents' signature does not verify (tampered)")
    return SpiImage(_parts(listed), root, signer, _end(listed), hashlib.sha256(TOC_PREFIX + toc).hexdigest())


def _parts(listed: list[Any]) -> dict[str, Part]:
    parts: dict[str, Part] = {}
    for entry in listed:
        try:
            part = Part(entry["name"], int(entry["offset"]), int(entry["size"]),
                        bytes.fromhex(entry["sha256"]))
        except (KeyError, TypeError, ValueError):
            raise SpiImageError("a part of the table of contents is malformed") from None
        if part.name not in PARTS or part.name in parts:
            raise SpiImageError(f"the table of contents lists an unknown or repeated part {part.name!r}")
        if part.offset % SECTOR or part.offset < HEADER_SIZE or part.size < 0 or len(part.sha256) != 32 \
                or part.offset + part.size > MAX_IMAGE_SIZE:
            raise SpiImageError(f"part {part.name} lies outside the image")
        parts[part.name] = part
    if set(parts) != set(PARTS):
        raise SpiImageError(f"the table of contents lacks {', '.join(sorted(set(PARTS) - set(parts)))}")
    spans = sorted((p.offset, p.offset + p.size) for p in parts.values())
    if any(end > start for (_, end), (start, _) in zip(spans, spans[1:], strict=False)):
        raise SpiImageError("parts of the image overlap")
    return parts


def _end(listed: list[dict[str, Any]]) -> int:
    return max(int(p["offset"]) + int(p["size"]) for p in listed)


def read_part(reader: Reader, image: SpiImage, name: str) -> bytes:
    """The bytes of one part, checked against the hash its signed table gives."""
    part = image.parts[name]
    data = reader(part.offset, part.size)
    if hashlib.sha256(data).digest() != part.sha256:
        raise SpiImageError(f"part {name} does not match its hash in the table of contents (tampered)")
    return data


def file_reader(data: bytes) -> Reader:
    """A reader over an image in memory; reading past its end gives erased bytes (0xFF)."""
    def reader(offset: int, length: int) -> bytes:
        chunk = data[offset:offset + length]
        return chunk + b"\xff" * (length - len(chunk))
    return reader
