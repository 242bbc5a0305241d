"""The broker's access plugin (broker_plugin/mv_link_access.c): built once per source, loaded by Mosquitto.

Mosquitto's ACL file checks what a client may receive, not what it may subscribe to, and it cannot tie
a client id to a certificate: so the link's rules live in a small plugin (see the C file's comment).
It is compiled with the host C compiler into the owner-only broker folder, named by the hash of its
source, so an upgraded source is rebuilt and nobody else can swap the library the broker loads.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "broker_plugin" / "mv_link_access.c"
PACKAGES = "gcc, mosquitto-dev, libmosquitto-dev and libssl-dev"


class PluginBuildError(Exception):
    """The access plugin cannot be built; the message says what is missing."""


def plugin_path(folder: Path) -> Path:
    """The built plugin in `folder` (built now if this source has not been built there)."""
    try:
        source = SOURCE.read_bytes()
    except OSError as exc:
        raise PluginBuildError(f"the broker's access plugin source is missing ({exc.strerror})") from None
    target = Path(folder) / f"mv_link_access-{hashlib.sha256(source).hexdigest()[:16]}.so"
    if target.exists():
        return target
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise PluginBuildError(f"no C compiler to build the broker's access plugin (install {PACKAGES})")
    partial = target.with_suffix(".tmp")
    result = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(partial), str(SOURCE),
                             "-lcrypto"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        first = next((line for line in result.stderr.splitlines() if "error" in line), result.stderr.strip())
        raise PluginBuildError(f"cannot build the broker's access plugin (install {PACKAGES}): {first}")
    os.replace(partial, target)
    for old in Path(folder).glob("mv_link_access-*.so"):
        if old != target:
            old.unlink(missing_ok=True)
    return target
