"""Small C libraries shipped as source: built once per source with the host compiler, then loaded.

A library is compiled into a folder the caller owns, named by the hash of its source and build
flags, so an upgraded source is rebuilt and a stale or foreign file is never loaded by mistake. The
build writes a temporary file and renames it, so concurrent first uses do not trip over each other.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path


class NativeBuildError(Exception):
    """A C library cannot be built; the message says what is missing."""


def build(source: Path, folder: Path, flags: tuple[str, ...] = (), needs: str = "gcc") -> Path:
    """The shared library built from `source` into `folder` (built now if not there yet).

    `needs` names the packages a failed build should point to."""
    try:
        text = Path(source).read_bytes()
    except OSError as exc:
        raise NativeBuildError(f"the source {Path(source).name} is missing ({exc.strerror})") from None
    digest = hashlib.sha256(text + "\0".join(flags).encode()).hexdigest()[:16]
    target = Path(folder) / f"{Path(source).stem}-{digest}.so"
    if target.exists():
        return target
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise NativeBuildError(f"no C compiler to build {Path(source).name} (install {needs})")
    try:
        Path(folder).mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise NativeBuildError(f"cannot make {folder}: {exc.strerror or exc}") from None
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        result = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(partial),
                                 str(source), *flags], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise NativeBuildError(f"cannot run the C compiler {compiler} to build {Path(source).name} "
                               f"(install {needs}): {exc.strerror or exc}") from None
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        first = next((line for line in result.stderr.splitlines() if "error" in line), result.stderr.strip())
        raise NativeBuildError(f"cannot build {Path(source).name} (install {needs}): {first}")
    os.replace(partial, target)
    return target
