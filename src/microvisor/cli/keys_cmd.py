"""`microvisor keys …`: P-256 key pairs for signing bundles, crash reports and debugging."""

from __future__ import annotations

from pathlib import Path

import typer

from ..common import keys
from .output import fail, out

app = typer.Typer(help="Signing keys (NIST P-256).", no_args_is_help=True)


@app.command("generate")
def generate(out_path: Path = typer.Argument(..., metavar="OUT.pem",
                                             help="Private key file to write (owner-only).")) -> None:
    """Write a new P-256 key: OUT.pem (private, mode 0600) and OUT.pub.pem (public)."""
    if out_path.suffix != ".pem":
        raise fail(f"{out_path}: the key file name must end in .pem")
    if not out_path.parent.is_dir():
        raise fail(f"folder {out_path.parent} does not exist")
    key = keys.generate()
    try:
        private, public = keys.save_pair(out_path, key)
    except (keys.KeyFileError, OSError) as exc:
        raise fail(str(exc)) from None
    out.print(f"wrote {private} and {public} (signer id {keys.signer_id(key.public_key()):016x})")
