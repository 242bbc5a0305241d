"""Binary deltas between application images (detools, sequential lzma patches): the source image both
sides build from an installed app's layers, a patch made from it, and the patch applied and checked.

The source is the installed app's layers in manifest order, each as its flash region holds it (its bytes
padded with 0xFF to the region's size, as the measurement hash covers them): the service builds it from the
stored layers, the device reads it from application flash, and the SHA-256 of it names it on both sides.
A patch rebuilds one layer of the target app; the manifest's fetch hash of that layer is what proves it.
"""

from __future__ import annotations

import hashlib
import io
import lzma

import detools
from detools.apply import peek_header_type, read_header_sequential

COMPRESSION = "lzma"
_SEQUENTIAL = 0  # detools' header type of a sequential patch


class DeltaError(Exception):
    """A patch that cannot be applied or does not give the layer it was made for."""


def source_image(layers: list[tuple[bytes, int]]) -> bytes:
    """The source image from (layer bytes, flash region size) in manifest order."""
    return b"".join(data + b"\xff" * (size - len(data)) for data, size in layers)


def source_hash(source: bytes) -> str:
    return hashlib.sha256(source).hexdigest()


def make(source: bytes, target: bytes) -> bytes:
    """A patch that turns source into target."""
    patch = io.BytesIO()
    detools.create_patch(io.BytesIO(source), io.BytesIO(target), patch, compression=COMPRESSION)
    return patch.getvalue()


def apply(source: bytes, patch: bytes, size: int, digest: str) -> bytes:
    """The layer the patch makes from source: `size` bytes whose SHA-256 is `digest`, else DeltaError. The
    patch's header is read first, so a patch that would make anything larger is refused unapplied."""
    try:
        header = io.BytesIO(patch)
        if peek_header_type(header) != _SEQUENTIAL:
            raise DeltaError("the patch is not a sequential detools patch")
        compression, to_size = read_header_sequential(header)
        if compression != COMPRESSION or to_size != size:
            raise DeltaError(f"the patch makes {to_size} bytes with {compression}, not {size} with "
                             f"{COMPRESSION}")
        out = io.BytesIO()
        detools.apply_patch(io.BytesIO(source), io.BytesIO(patch), out)
    except DeltaError:
        raise
    except (detools.Error, lzma.LZMAError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise DeltaError(f"the patch cannot be applied: {exc}") from None
    data = out.getvalue()
    if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
        raise DeltaError("the patch does not make the layer it was made for")
    return data
