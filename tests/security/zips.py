"""Hostile ZIP archives, written byte by byte where Python's zipfile would refuse to make them."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from microvisor.common.bundle import build_app

LOCAL = struct.Struct("<4s5H3I2H")  # signature, version, flags, method, time, date, crc, sizes, name, extra
CENTRAL = struct.Struct("<4s6H3I5H2I")
END = struct.Struct("<4s4H2IH")


def archive(entries: list[tuple[str, bytes, int, int]], flags: int = 0) -> bytes:
    """A ZIP of (name, data as stored, method, declared inflated size) entries, written as given, with
    these general-purpose flags on every entry (1: encrypted)."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, data, method, declared in entries:
        raw = name.encode()
        offset = out.tell()
        crc = zlib.crc32(data)
        out.write(LOCAL.pack(b"PK\x03\x04", 20, flags, method, 0, 0x21, crc, len(data), declared, len(raw),
                             0))
        out.write(raw + data)
        central.write(CENTRAL.pack(b"PK\x01\x02", 20, 20, flags, method, 0, 0x21, crc, len(data), declared,
                                   len(raw), 0, 0, 0, 0, 0, offset))
        central.write(raw)
    start = out.tell()
    out.write(central.getvalue())
    out.write(END.pack(b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central.getvalue()), start, 0))
    return out.getvalue()


def valid_bundle() -> bytes:
    return build_app(b"\x00" * 1024).to_bytes()


def entries_of(bundle: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as source:
        return [(info.filename, source.read(info)) for info in source.infolist()]


def stored(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED, flags: int = 0) -> bytes:
    return archive([(name, data, method, len(data)) for name, data in entries], flags)


def encrypted() -> bytes:
    return stored(entries_of(valid_bundle()), flags=1)


def unknown_method() -> bytes:
    return stored(entries_of(valid_bundle()), method=99)


def duplicate_names() -> bytes:
    entries = entries_of(valid_bundle())
    return stored(entries + [entries[0]])


def with_extra(name: str) -> bytes:
    return stored(entries_of(valid_bundle()) + [(name, b"x")])


def truncated() -> bytes:
    data = valid_bundle()
    return data[: len(data) // 2]


def deflated_zeros(size: int) -> bytes:
    """A raw deflate stream of `size` zero bytes, made in a moment: one flushed block repeated."""
    block = 1 << 20
    assert size % block == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert again == piece
    return piece * (size // block) + compressor.flush()


def bomb(entries: int = 5, each: int = 1 << 30, honest: bool = True) -> bytes:
    """About 5 MB that inflates to entries × each bytes (5 GiB by default); with honest=False the
    headers claim 1 KiB per entry."""
    stream = deflated_zeros(each)
    return archive([(f"{n:064x}", stream, zipfile.ZIP_DEFLATED, each if honest else 1024)
                    for n in range(entries)])
