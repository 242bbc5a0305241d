"""`microvisor keys …`: P-256 key pairs for signing bundles, crash reports and debugging; the keys
registered with the service (an upload signed by any other key is refused)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..common.api_client import api_path
from . import params
from .credentials import client
from .output import fail, out, print_json
from .service_cmds import JSON, _call, _table

app = typer.Typer(help="Signing keys (NIST P-256).", no_args_is_help=True)


@app.command("generate")
def generate(out_path: Path = params.argument(params.OUTPUT_FILE, metavar="OUT.pem",
                                              help="Private key file to write (owner-only).")) -> None:
    """Write a new P-256 key: OUT.pem (private, mode 0600) and OUT.pub.pem (public)."""
    from ..common import keys  # cryptography loads in the commands that use it, not for --help

    if out_path.suffix != ".pem":
        raise fail(f"{out_path}: the key file name must end in .pem")
    key = keys.generate()
    try:
        private, public = keys.save_pair(out_path, key)
    except (keys.KeyFileError, OSError) as exc:
        raise fail(str(exc)) from None
    out.print(f"wrote {private} and {public} (signer id {keys.signer_id(key.public_key()):016x})")


# --- keys registered with the service -------------------------------------------------------------
KEY_COLUMNS = [("sid", "sid"), ("signer id", "signer_id"), ("name", "friendly_name"),
               ("registered", "date_created")]


@app.command("register")
def register(
    public_path: Path = params.argument(
        params.INPUT_FILE, metavar="PUB.pem",
        help="Public key (or its private key: only the public half is sent)."),
    name: str | None = params.option(None, "--name", type=params.TEXT, help="A friendly name for the key."),
    as_json: bool = JSON,
) -> None:
    """Register a public key with the service: the account's bundles signed by it are accepted."""
    from ..common import keys

    try:
        key = keys.load_public(public_path)
    except keys.KeyFileError as exc:
        raise fail(str(exc)) from None
    form = {"PublicKey": keys.public_pem(key).decode(), "FriendlyName": name}
    with client() as api:
        row = _call(api.post, "/v1/SigningKeys", form)
    if as_json:
        print_json(row)
    else:
        out.print(f"key {row['signer_id']} registered as {row['sid']}")


@app.command("registered")
def registered(as_json: bool = JSON) -> None:
    """List the keys registered with the service."""
    with client() as api:
        rows = _call(lambda: list(api.pages("/v1/SigningKeys", "signing_keys")))
    print_json(rows) if as_json else _table(rows, KEY_COLUMNS)


@app.command("unregister")
def unregister(sid: str = params.argument(params.NAME, metavar="SID", help="The key's SID (SK…).")) -> None:
    """Unregister a key: later uploads signed by it are refused (apps already uploaded stay)."""
    with client() as api:
        _call(api.delete, api_path("v1", "SigningKeys", sid))
    out.print(f"key {sid} unregistered")
