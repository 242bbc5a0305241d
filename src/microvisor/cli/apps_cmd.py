"""`microvisor apps …`: make application bundles and look inside them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from ..common.bundle_format import APP_FLASH_REGION_SIZE
from . import params
from .output import fail, out, print_json

if TYPE_CHECKING:  # keys and bundles (cryptography, protobuf) load in the commands, not for --help
    from ..common import keys
    from ..common.bundle import Bundle
    from ..common.manifest_schema import AppBody

app = typer.Typer(help="Application bundles.", no_args_is_help=True)
LAYER_PAGE = 8192  # bytes of a flash page: layers never share one


def _public(path: Path | None, option: str) -> bytes | None:
    from ..common import keys

    if path is None:
        return None
    try:
        return keys.raw_public(keys.load_public(path))
    except keys.KeyFileError as exc:
        raise fail(f"{option}: {exc}") from None


def _policy(field: str, default: int, *names: str, metavar: str, help: str = "", maximum: int | None = None):
    """An option for one integer field of the manifest's AppBody, in the range of its protobuf type."""
    return params.option(default, *names, type=params.manifest_integer("AppManifest.AppBody", field,
                                                                        maximum=maximum),
                         metavar=metavar, help=help)


@app.command("bundle")
def bundle(
    firmware: Path = params.argument(params.INPUT_FILE, metavar="APP.elf|APP.bin",
                                     help="Application ELF or flat binary."),
    output: Path = params.argument(params.OUTPUT_FILE, metavar="OUT.zip", help="Bundle to write."),
    signing_key: Path | None = params.option(None, "--signing-key", type=params.INPUT_FILE, metavar="KEY.pem",
                                             help="PEM private key that signs."),
    unsigned: bool = typer.Option(False, "--unsigned", help="Leave the manifest unsigned."),
    debug_key: Path | None = params.option(None, "--debug-key", "--debug-auth-key", type=params.INPUT_FILE,
                                           metavar="PUB.pem", help="Public key allowed to debug the app "
                                                                   "(none: not debuggable remotely)."),
    crash_report_key: Path | None = params.option(None, "--crash-report-key", type=params.INPUT_FILE,
                                                  metavar="PUB.pem",
                                                  help="Public key crash reports are encrypted to."),
    crash_stack_bytes: int = _policy("crash.include_stack_bytes", 0, "--crash-stack-bytes", metavar="BYTES",
                                     maximum=0x10000, help="Bytes of stack a crash report includes."),
    minimum_restart_interval: int = _policy("crash.minimum_restart_ms", 0, "--minimum-restart-interval",
                                            metavar="MS"),
    maximum_restart_interval: int = _policy("crash.maximum_restart_ms", 0, "--maximum-restart-interval",
                                            metavar="MS"),
    maximum_politeness_time: int = _policy("update.maximum_politeness_time_sec", 0,
                                           "--maximum-politeness-time", metavar="S"),
    minimum_kernel_version: int = _policy("update.minimum_kernel_version", 0, "--minimum-kernel-version",
                                          metavar="N"),
    connection_grace_time: int = _policy("connectivity.connection_grace_time_sec", 0,
                                         "--connection-grace-time", metavar="S"),
    minimum_check_in_time: int = _policy("connectivity.minimum_check_in_time_sec", 0,
                                         "--minimum-check-in-time", metavar="S", help="0 = stay connected."),
    layer_size: int | None = params.option(
        None, "--layer-size", type=params.Integer(LAYER_PAGE, APP_FLASH_REGION_SIZE, step=LAYER_PAGE),
        metavar="BYTES", help="One layer per BYTES of image (whole 8192-byte flash pages), so that an "
                              "update fetches only the layers that changed; default: one layer for the "
                              "whole 1 MiB."),
) -> None:
    """Bundle an application: its flat image as a layer, and a manifest with its policies."""
    if (signing_key is None) == (not unsigned):
        raise fail("choose exactly one of --signing-key KEY and --unsigned.")
    if maximum_restart_interval and maximum_restart_interval < minimum_restart_interval:
        raise fail("--maximum-restart-interval is below --minimum-restart-interval.")
    body = manifest_body(debug_key)
    crash = _public(crash_report_key, "--crash-report-key")
    if crash is not None or crash_stack_bytes or minimum_restart_interval or maximum_restart_interval:
        body.crash.crash_report_pubkey = crash or b""
        body.crash.include_stack_bytes = crash_stack_bytes
        body.crash.minimum_restart_ms = minimum_restart_interval
        body.crash.maximum_restart_ms = maximum_restart_interval
    body.update.maximum_politeness_time_sec = maximum_politeness_time
    body.update.minimum_kernel_version = minimum_kernel_version
    body.connectivity.connection_grace_time_sec = connection_grace_time
    body.connectivity.minimum_check_in_time_sec = minimum_check_in_time
    result, size = make_bundle(firmware, body, signing_key, layer_size)
    try:
        result.write(output)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    out.print(f"wrote {output}: {size} bytes of application, manifest "
              f"{result.manifest_hash[:16]}…, {'signed' if signing_key else 'unsigned'}")


def manifest_body(debug_key: Path | None) -> AppBody:
    """A manifest body with the fields the published bundler sets, and only those (ARCHITECTURE.md, "The
    published ABI and manifest"): update and connectivity always, debug as the key alone (none: the
    app is not debuggable remotely). A crash policy is this tool's addition, left to the caller."""
    from ..common.manifest_schema import AppBody

    body = AppBody()
    debug = _public(debug_key, "--debug-key")
    if debug is not None:
        body.debug.debug_auth_pubkey = debug
    body.update.SetInParent()
    body.connectivity.SetInParent()
    return body


def make_bundle(firmware: Path, body: AppBody, signing_key: Path | None,
                layer_size: int | None) -> tuple[Bundle, int]:
    """The application at `firmware` bundled with `body` (signed with the key at `signing_key`, if
    given); with the size of its image."""
    from ..common import keys
    from ..common.bundle import BundleError, build_app
    from ..device.firmware import FirmwareError, load_firmware  # ELF reading loads only for bundling

    key = None
    if signing_key is not None:
        try:
            key = keys.load_private(signing_key)
        except keys.KeyFileError as exc:
            raise fail(str(exc)) from None
    try:
        image = load_firmware(firmware)
    except FirmwareError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot read {firmware}: {exc.strerror or exc}") from None
    try:
        result = build_app(image.data, body, layer_size=layer_size)
    except BundleError as exc:
        raise fail(str(exc)) from None
    if key is not None:
        result.sign(key)
    return result, len(image.data)


def _layer(bundle: Bundle, layer) -> dict:
    where = layer.target.WhichOneof("where")
    region = getattr(layer.target, where or "internal_flash")
    return {"target": where, "start": region.start, "size": region.size,
            "fetch_hash": layer.fetch_hash.hex(), "measurement_hash": layer.measurement_hash.hex(),
            "bytes": len(bundle.layers.get(layer.fetch_hash.hex(), b"")),
            "encrypted_with_key_id": layer.encrypted_with_key_id}


def describe(bundle: Bundle, verify_keys: list[keys.PublicKey]) -> dict:
    """What `apps inspect` shows, as data."""
    from ..common import keys
    from ..common.bundle import BundleError, app_image_spans

    body = bundle.app_body()
    try:
        app_image_spans(bundle)
        layers_ok, problem = True, None
    except BundleError as exc:
        layers_ok, problem = False, str(exc)
    return {
        "manifest_hash": bundle.manifest_hash,
        "signatures": [{"signer_id": f"{signer:016x}",
                        "verified_by": next((f"{keys.signer_id(k):016x}" for k in verify_keys
                                             if keys.signer_id(k) == signer and bundle.signed_by(k)), None)}
                       for signer, _ in bundle.signatures()],
        "layers": [_layer(bundle, layer) for layer in body.layers],
        "layers_ok": layers_ok,
        "problem": problem,
        "debug": {"debuggable": body.debug.debuggable,
                  "debug_auth_pubkey": body.debug.debug_auth_pubkey.hex() or None},
        "crash": {"minimum_restart_ms": body.crash.minimum_restart_ms,
                  "maximum_restart_ms": body.crash.maximum_restart_ms,
                  "crash_report_pubkey": body.crash.crash_report_pubkey.hex() or None,
                  "include_stack_bytes": body.crash.include_stack_bytes},
        "update": {"maximum_politeness_time_sec": body.update.maximum_politeness_time_sec,
                   "minimum_kernel_version": body.update.minimum_kernel_version},
        "connectivity": {"connection_grace_time_sec": body.connectivity.connection_grace_time_sec,
                         "minimum_check_in_time_sec": body.connectivity.minimum_check_in_time_sec},
    }


@app.command("inspect")
def inspect(
    bundle_path: Path = params.argument(params.INPUT_FILE, metavar="BUNDLE.zip", help="The bundle."),
    key: list[Path] = params.option([], "--key", type=params.INPUT_FILE, metavar="PUB.pem",
                                    help="Public key to check a signature against (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a bundle's manifest: signatures, layers (checked against their hashes) and policies.

    Exit status: 0 when the layers are sound, 1 when they are not (with or without --json), 2 when the
    bundle cannot be read."""
    from ..common import keys
    from ..common.bundle import Bundle, BundleError

    verify_keys = []
    for path in key:
        try:
            verify_keys.append(keys.load_public(path))
        except keys.KeyFileError as exc:
            raise fail(str(exc)) from None
    try:
        info = describe(Bundle.read(bundle_path), verify_keys)
    except BundleError as exc:
        raise fail(f"{bundle_path}: {exc}") from None
    if as_json:
        print_json(info)
    else:
        _show(bundle_path, info)
    if not info["layers_ok"]:
        raise typer.Exit(1)


def _show(bundle_path: Path, info: dict) -> None:
    from rich.table import Table

    out.print(Text.assemble((str(bundle_path), "bold"), f"  manifest {info['manifest_hash']}"))
    if not info["signatures"]:
        out.print("  unsigned")
    for sig in info["signatures"]:
        checked = f"verified with key {sig['verified_by']}" if sig["verified_by"] else "not checked"
        out.print(f"  signed by {sig['signer_id']} ({checked})")
    table = Table("target", "start", "size", "bytes", "fetch hash", box=None)
    for layer in info["layers"]:
        table.add_row(layer["target"] or "?", f"{layer['start']:#x}", f"{layer['size']:#x}",
                      str(layer["bytes"]), layer["fetch_hash"][:16] + "…")
    out.print(table)
    out.print(Text.assemble("  layers: ", ("ok", "") if info["layers_ok"] else (info["problem"], "red")))
    for section in ("debug", "crash", "update", "connectivity"):
        out.print(f"  {section}: " + ", ".join(f"{k}={v}" for k, v in info[section].items()))
