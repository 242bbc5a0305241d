"""The broker's access plugin (broker_plugin/mv_link_access.c), built for the Mosquitto that loads it.

Mosquitto's ACL file checks what a client may receive, not what it may subscribe to, and it cannot tie
a client id to a certificate: so the link's rules live in a small plugin (see the C file's comment).
It is compiled into the owner-only broker folder (common/native.py), so nobody else can swap the
library the broker loads.
"""

from __future__ import annotations

from pathlib import Path

from ..common import native

SOURCE = Path(__file__).resolve().parent / "broker_plugin" / "mv_link_access.c"
PACKAGES = "gcc, mosquitto-dev, libmosquitto-dev and libssl-dev"


class PluginBuildError(Exception):
    """The access plugin cannot be built; the message says what is missing."""


def plugin_path(folder: Path) -> Path:
    """The built plugin in `folder` (built now if this source has not been built there)."""
    try:
        return native.build(SOURCE, folder, ("-lcrypto",), needs=PACKAGES)
    except native.NativeBuildError as exc:
        raise PluginBuildError(f"the broker's access plugin: {exc}") from None
