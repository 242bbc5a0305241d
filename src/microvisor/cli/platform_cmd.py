"""`microvisor platform …`: a platform's keys and certificate authority for development."""

from __future__ import annotations

from pathlib import Path

import typer

from . import params
from .output import fail, out

app = typer.Typer(help="The platform: root, kernel- and app-signing keys and a device CA.",
                  no_args_is_help=True)


@app.command("init")
def init(directory: Path = params.argument(params.NEW_FOLDER, metavar="DIR",
                                           help="New folder for the platform.")) -> None:
    """Create DIR (mode 0700) with the root, kernel-signing and app-signing keys and a CA.

    The root key's hash goes into each device's OTP; the kernel key signs kernels, the app key
    co-signs applications, the CA certifies device identities.
    """
    from ..common import keys
    from ..common.platform import Platform, PlatformError

    try:
        platform = Platform.init(directory)
    except (PlatformError, OSError) as exc:
        raise fail(str(exc)) from None
    out.print(f"platform created in {platform.path}")
    out.print(f"  root key hash {platform.root_key_hash.hex()}")
    out.print(f"  app signer id {keys.signer_id(platform.app_key.public_key()):016x}")
