"""ZIP archives read within limits: every name, size and method checked before a byte is inflated.

Bundles and kernel layers are ZIP archives that may come from anyone (an upload, a file on the command
line). An archive is refused, with one sentence, when it has too many entries, an entry or a total
larger than allowed (as declared, and as actually inflated), an encrypted entry, a compression method
other than stored or deflated, two entries of the same name, or a name that is absolute, climbs out
with "..", or (where folders are not allowed) has a folder in it.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass

_READ = 64 * 1024
_ENCRYPTED = 0x1  # general purpose flag bit 0
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MAX_NAME = 200


class ArchiveError(Exception):
    """An archive that cannot be read within its limits; the message says why."""


@dataclass(frozen=True)
class ZipLimits:
    max_entries: int
    max_entry_size: int  # bytes, inflated
    max_total_size: int  # bytes, inflated, all entries together
    folders: bool = False  # whether names may be relative paths (a/b.py)


def read_zip(data: bytes, limits: ZipLimits) -> dict[str, bytes]:
    """Every file entry of the archive, name → bytes; ArchiveError if any check fails."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            NotImplementedError) as exc:
        raise ArchiveError(f"the ZIP archive cannot be read ({exc})") from None
    if len(infos) > limits.max_entries:
        raise ArchiveError(f"the archive has {len(infos)} entries; at most {limits.max_entries} are allowed")
    total = 0
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        problem = _name_problem(name, limits.folders)
        if problem:
            raise ArchiveError(f"the archive's entry {name[:MAX_NAME]!r} {problem}")
        if name in seen:
            raise ArchiveError(f"the archive has two entries named {name!r}")
        seen.add(name)
        if info.flag_bits & _ENCRYPTED:
            raise ArchiveError(f"the archive's entry {name!r} is encrypted")
        if info.compress_type not in _METHODS:
            raise ArchiveError(f"the archive's entry {name!r} uses compression method {info.compress_type}; "
                               "only stored and deflated are supported")
        if info.file_size > limits.max_entry_size:
            raise ArchiveError(f"the archive's entry {name!r} inflates to {info.file_size} bytes; at most "
                               f"{limits.max_entry_size} are allowed")
        total += info.file_size
        if total > limits.max_total_size:
            raise ArchiveError(f"the archive inflates to more than {limits.max_total_size} bytes")
    return {info.filename: _inflate(archive, info) for info in infos if not info.is_dir()}


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The entry's bytes, read in pieces and never more than it declared."""
    parts, size = [], 0
    try:
        with archive.open(info) as entry:
            while piece := entry.read(_READ):
                size += len(piece)
                if size > info.file_size:
                    raise ArchiveError(f"the archive's entry {info.filename!r} inflates to more than it "
                                       "declares")
                parts.append(piece)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise ArchiveError(f"the archive's entry {info.filename!r} cannot be read ({exc})") from None
    return b"".join(parts)


def _name_problem(name: str, folders: bool) -> str | None:
    """Why the entry name is refused, or None."""
    if not name or len(name) > MAX_NAME:
        return f"has a name that is empty or longer than {MAX_NAME} characters"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "has an absolute name"
    parts = name.split("/")
    if any(part in (".", "..") for part in parts):
        return "has a name that climbs out of the archive"
    if not folders and len(parts) > 1:
        return "is in a folder; entries must be plain names"
    if "" in parts[:-1]:
        return "has an empty folder name"
    if not all(set(part) <= _NAME_CHARACTERS for part in parts):
        return "has a name with characters other than letters, digits, '.', '_', '-'" + (
            " and '/'" if folders else "")
    return None
