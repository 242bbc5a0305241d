"""`microvisor deploy`: one step from a built ELF to a running device (bundle, upload, target, wait)."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import typer

from ..common.api_client import ApiClient, ApiError, api_path
from . import apps_cmd, params
from .credentials import client
from .output import fail, out, print_json
from .service_cmds import _call, print_log_line, update_status, upload_app, wait_for_update

STREAM_OPEN_TIMEOUT_S = 30.0
DEPLOY_ELF_LIMIT = 4 * 1024 * 1024


def deploy(
    firmware: Path = params.argument(params.INPUT_FILE, metavar="APP.elf|APP.bin",
                                     help="The application, as built (ELF or flat binary)."),
    device: list[str] = params.option(..., "--device", type=params.NAME, metavar="DEVICE",
                                      help="Device SID or unique name (repeat for several)."),
    signing_key: Path | None = params.option(None, "--signing-key", type=params.INPUT_FILE, metavar="KEY.pem",
                                             help="PEM private key that signs the bundle (default: "
                                                  "unsigned, the service's signature alone)."),
    debug_key: Path | None = params.option(None, "--debug-key", type=params.INPUT_FILE, metavar="PUB.pem",
                                           help="Public key allowed to debug the app remotely."),
    unique_name: str | None = params.option(None, "--unique-name", type=params.NAME,
                                            help="A name for the new app."),
    layer_size: int | None = params.option(
        8192, "--layer-size", type=params.Integer(apps_cmd.LAYER_PAGE, apps_cmd.APP_FLASH_REGION_SIZE,
                                                  step=apps_cmd.LAYER_PAGE),
        metavar="BYTES", help="One layer per BYTES of image, so that the next deploy ships only the "
                              "layers that changed."),
    wait: bool = typer.Option(False, "--wait", help="Wait, with a progress bar, until every device runs "
                                                    "the app (or failed to update)."),
    wait_timeout: float = params.option(600, "--wait-timeout", type=params.Seconds(positive=False),
                                        metavar="S", help="How long --wait waits."),
    logs: bool = typer.Option(False, "--logs", help="Turn the device's logging on, then follow its log "
                                                    "lines from the moment of the deploy (Ctrl-C to stop); "
                                                    "implies --wait."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: the app and the devices."),
) -> None:
    """Deploy an application: bundle it, upload it, target the devices with it and, with --wait, wait
    until they run it.

    Exit status: 0 when done, 1 when the service refused a step or a device failed to update,
    2 for unusable input."""
    if logs and len(device) != 1:
        raise fail("--logs follows one device: give one --device.")
    wait = wait or logs
    bundle, size = apps_cmd.make_bundle(firmware, apps_cmd.manifest_body(debug_key), signing_key, layer_size)
    if not as_json:
        out.print(f"bundled {firmware.name}: {size} bytes, manifest {bundle.manifest_hash[:16]}…, "
                  f"{'signed' if signing_key else 'unsigned'}")
    with client() as api:
        # Every device is found before anything is uploaded.
        sids = [_call(api.get, api_path("v1", "Devices", name))["sid"] for name in device]
        lines = _follow_in_background(sids[0]) if logs else None
        app = upload_app(api, bundle.to_bytes(), f"{firmware.stem}.zip", unique_name, as_json,
                         elf=_elf(firmware))
        if not as_json:
            out.print(f"uploaded: app {app['sid']} (hash {app['hash']})")
        form = {"TargetApp": app["sid"], **({"LoggingEnabled": True} if logs else {})}
        rows = [_call(api.post, api_path("v1", "Devices", sid), form) for sid in sids]
        if not as_json:
            out.print(f"targeted {', '.join(row['sid'] for row in rows)} with {app['sid']}")
        if wait:
            rows = wait_for_update(api, [row["sid"] for row in rows], wait_timeout, quiet=as_json)
    failed = [row["sid"] for row in rows if update_status(row) == "error"]
    if as_json:
        print_json({"app": app, "devices": rows})
    elif wait:
        for row in rows:
            out.print(f"{row['sid']}: {update_status(row)}")
    if failed:
        raise fail(f"{', '.join(failed)} failed to update to {app['sid']}.", 1)
    if lines is not None:
        _print_lines(lines, as_json)


def _elf(firmware: Path) -> tuple[str, bytes] | None:
    """The firmware's bytes when it is an ELF of at most DEPLOY_ELF_LIMIT bytes, which the service keeps to
    symbolicate crash reports (a larger one is left out, so the upload stays within the service's
    default request size; `apps create --elf` sends up to the service's own limit)."""
    try:
        data = firmware.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {firmware}: {exc.strerror or exc}") from None
    if data[:4] != b"\x7fELF" or len(data) > DEPLOY_ELF_LIMIT:
        return None
    return firmware.name, data


def _follow_in_background(device: str) -> queue.Queue:
    """Start following the device's log lines now, so that none logged during the update is missed;
    lines (or the error that ended the stream) arrive on the queue, None when it ends."""
    lines: queue.Queue = queue.Queue()
    opened = threading.Event()

    def follow() -> None:
        try:
            with client() as api:
                _stream(api, device, opened, lines)
        except (ApiError, typer.Exit) as exc:
            lines.put(exc)
        finally:
            opened.set()
            lines.put(None)

    threading.Thread(target=follow, name="deploy-logs", daemon=True).start()
    opened.wait(STREAM_OPEN_TIMEOUT_S)
    return lines


def _stream(api: ApiClient, device: str, opened: threading.Event, lines: queue.Queue) -> None:
    for name, data in api.events(api_path("v1", "Devices", device, "Logs", "Stream"), on_open=opened.set):
        if name == "log":
            lines.put(data)


def _print_lines(lines: queue.Queue, as_json: bool) -> None:
    """Print the followed lines until the stream ends or Ctrl-C."""
    try:
        while (line := lines.get()) is not None:
            if isinstance(line, ApiError):
                raise fail(str(line), 1)
            if isinstance(line, typer.Exit):
                raise line
            print_log_line(line, as_json)
    except KeyboardInterrupt:
        return
