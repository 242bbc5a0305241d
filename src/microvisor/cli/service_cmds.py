"""Commands that talk to the service: login, apps on the service, devices, logs, configs and secrets."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ..common.api_client import ApiClient, ApiError, api_path
from . import params
from .credentials import client, save_profile
from .output import err, fail, out, print_json

JSON = typer.Option(False, "--json", help="Print JSON.")


def _call(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except ApiError as exc:
        raise fail(str(exc), 1) from None


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    from rich.table import Table  # rich's tables and progress bars load when one is shown

    table = Table(box=None)
    for title, _ in columns:
        table.add_column(title, overflow="fold")
    for row in rows:
        table.add_row(*[_cell(row, key) for _, key in columns])
    out.print(table)


def _cell(row: dict, key: str) -> str:
    value: object = row
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "-" if value in (None, "") else str(value)


# --- login ----------------------------------------------------------------------------------------
def login(
    url: str = params.option(..., "--url", type=params.SERVICE_URL, prompt=True,
                             help="The service, e.g. http://127.0.0.1:8080"),
    account_sid: str = params.option(..., "--account-sid", type=params.ACCOUNT_SID, prompt=True,
                                     help="The account."),
    auth_token: str = params.option(..., "--auth-token", type=params.AUTH_TOKEN, prompt=True, hide_input=True,
                                    metavar="TOKEN", help="The account's auth token."),
) -> None:
    """Check the credentials against the service and save them as your profile (owner-only file)."""
    with ApiClient(url, account_sid, auth_token) as api:
        _call(api.get, "/v1/Devices", PageSize=1)
    try:
        saved = save_profile(url, account_sid, auth_token)
    except OSError as exc:
        raise fail(f"cannot save the profile: {exc.strerror or exc}") from None
    out.print(f"logged in to {url} as {account_sid}; profile saved in {saved}")


# --- apps on the service --------------------------------------------------------------------------
APP_COLUMNS = [("sid", "sid"), ("unique name", "unique_name"), ("hash", "hash"), ("created", "date_created")]


def apps_create(
    bundle: Path = params.argument(params.INPUT_FILE, metavar="BUNDLE.zip",
                                   help="A bundle made by `apps bundle`."),
    unique_name: str | None = params.option(None, "--unique-name", type=params.NAME,
                                            help="A name for the app."),
    bundle_out: Path | None = params.option(None, "--bundle-out", type=params.OUTPUT_FILE,
                                            metavar="SIGNED.zip",
                                            help="Also save the bundle as the service co-signed it."),
    elf: Path | None = params.option(None, "--elf", type=params.INPUT_FILE, metavar="APP.elf",
                                     help="The application's ELF, kept by the service to symbolicate its "
                                          "crash reports (it must load exactly the bundle's bytes)."),
    as_json: bool = JSON,
) -> None:
    """Upload a bundle: the service verifies it, co-signs its manifest and keeps its layers."""
    try:
        data = bundle.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {bundle}: {exc.strerror or exc}") from None
    elf_file = None
    if elf is not None:
        try:
            elf_file = (elf.name, elf.read_bytes())
        except OSError as exc:
            raise fail(f"cannot read {elf}: {exc.strerror or exc}") from None
    with client() as api:
        app = upload_app(api, data, bundle.name, unique_name, quiet=as_json, elf=elf_file)
        if bundle_out is not None:
            signed = _call(api.request, "GET", api_path("v1", "Apps", app["sid"], "Bundle")).content
            try:
                bundle_out.write_bytes(signed)
            except OSError as exc:
                raise fail(f"cannot write {bundle_out}: {exc.strerror or exc}", 1) from None
    if as_json:
        print_json(app)
    else:
        out.print(f"app {app['sid']} created (hash {app['hash']})"
                  + (f", with its ELF {elf.name}" if elf else "")
                  + (f"; co-signed bundle saved in {bundle_out}" if bundle_out else ""))


def upload_app(api: ApiClient, data: bytes, filename: str, unique_name: str | None, quiet: bool,
               elf: tuple[str, bytes] | None = None) -> dict:
    """Upload a bundle's bytes as an app (with the app's ELF: (file name, bytes)), with a progress bar
    (unless quiet); the app the service made."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with Progress(TextColumn("uploading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=err, transient=True, disable=quiet) as progress:
        task = progress.add_task("upload", total=len(data) + (len(elf[1]) if elf else 0))
        return _call(api.upload, "/v1/Apps", "File", filename, data,
                     {"UniqueName": unique_name} if unique_name else {},
                     lambda n: progress.advance(task, n), {"Elf": elf} if elf else None)


def apps_list(as_json: bool = JSON) -> None:
    """List the account's apps."""
    with client() as api:
        rows = list(_call(lambda: list(api.pages("/v1/Apps", "apps"))))
    print_json(rows) if as_json else _table(rows, APP_COLUMNS)


APP = params.argument(params.NAME, metavar="APP", help="App SID or unique name.")
DEVICE = params.argument(params.NAME, metavar="DEVICE", help="Device SID or unique name.")


def apps_fetch(app: str = APP, as_json: bool = JSON) -> None:
    """Show one app and its manifest."""
    with client() as api:
        row = _call(api.get, api_path("v1", "Apps", app))
        manifest = _call(api.get, api_path("v1", "Apps", app, "Manifest"))
    if as_json:
        print_json({**row, "manifest": manifest})
    else:
        _table([row], APP_COLUMNS)


def apps_delete(app: str = APP) -> None:
    """Delete an app (refused while a device targets it)."""
    with client() as api:
        _call(api.delete, api_path("v1", "Apps", app))
    out.print(f"app {app} deleted")


# --- devices --------------------------------------------------------------------------------------
devices = typer.Typer(help="Devices registered with the service.", no_args_is_help=True)
DEVICE_COLUMNS = [("sid", "sid"), ("unique name", "unique_name"), ("target app", "app.target_sid"),
                  ("reported app", "app.reported_sid"), ("update", "app.update_status")]


@devices.command("list")
def devices_list(as_json: bool = JSON) -> None:
    """List the account's devices."""
    with client() as api:
        rows = _call(lambda: list(api.pages("/v1/Devices", "devices")))
    print_json(rows) if as_json else _table(rows, DEVICE_COLUMNS)


@devices.command("fetch")
def devices_fetch(device: str = DEVICE, as_json: bool = JSON) -> None:
    """Show one device."""
    with client() as api:
        row = _call(api.get, api_path("v1", "Devices", device))
    print_json(row) if as_json else _table([row], DEVICE_COLUMNS)


@devices.command("update")
def devices_update(
    device: list[str] = params.argument(params.NAME, metavar="DEVICE…", help="Device SIDs or unique names."),
    target_app: str | None = params.option(None, "--target-app", type=params.NAME, metavar="APP",
                                           help="App SID or unique name."),
    unique_name: str | None = params.option(None, "--unique-name", type=params.NAME,
                                            help="A new name for the device."),
    restart_app: bool = typer.Option(False, "--restart-app", help="Restart the device's application."),
    restart_device: bool = typer.Option(False, "--restart-device", help="Restart the whole device."),
    logging: bool | None = typer.Option(None, "--logging/--no-logging", help="Enable or disable logging."),
    wait: bool = typer.Option(False, "--wait", help="With --target-app: wait, with a progress bar, until "
                                                    "every device is up-to-date or failed."),
    wait_timeout: float = params.option(600, "--wait-timeout", type=params.Seconds(positive=False),
                                        metavar="S", help="How long --wait waits."),
    as_json: bool = JSON,
) -> None:
    """Change devices: target an app, rename, toggle logging, restart the app or the device."""
    form = {"TargetApp": target_app, "UniqueName": unique_name, "LoggingEnabled": logging,
            "RestartApp": restart_app or None, "RestartDevice": restart_device or None}
    if all(value is None for value in form.values()):
        raise fail("nothing to change: give --target-app, --unique-name, --logging, --restart-app "
                   "or --restart-device.")
    if wait and target_app is None:
        raise fail("--wait follows an update: give --target-app too.")
    if len(device) > 1 and unique_name is not None:
        raise fail("--unique-name names one device, not several.")
    with client() as api:
        rows = [_call(api.post, api_path("v1", "Devices", sid), form) for sid in device]
        if wait:
            rows = wait_for_update(api, [row["sid"] for row in rows], wait_timeout, quiet=as_json)
    if as_json:
        print_json(rows)
    else:
        _table(rows, DEVICE_COLUMNS)
    if any(update_status(row) == "error" for row in rows):
        raise typer.Exit(1)


def update_status(row: dict) -> str | None:
    return (row.get("app") or {}).get("update_status")


def wait_for_update(api: ApiClient, sids: list[str], timeout: float, quiet: bool) -> list[dict]:
    """Poll the devices, with a progress bar (unless quiet), until each is up-to-date or failed."""
    from rich.progress import BarColumn, Progress, TextColumn

    deadline = time.monotonic() + timeout
    rows: dict[str, dict] = {}
    with Progress(TextColumn("updating"), BarColumn(), TextColumn("{task.completed}/{task.total} devices"),
                  console=err, transient=True, disable=quiet) as progress:
        task = progress.add_task("update", total=len(sids))
        while True:
            for sid in sids:
                rows[sid] = _call(api.get, api_path("v1", "Devices", sid))
            done = [s for s in sids if update_status(rows[s]) in ("up-to-date", "error")]
            progress.update(task, completed=len(done))
            if len(done) == len(sids):
                return [rows[s] for s in sids]
            if time.monotonic() > deadline:
                raise fail(f"{len(sids) - len(done)} device(s) still pending after {timeout:g} s.", 1)
            time.sleep(0.5)


# --- logs -----------------------------------------------------------------------------------------
logs = typer.Typer(help="Device logs.", no_args_is_help=True)


@logs.command("stream")
def logs_stream(
    device: str = DEVICE,
    after: int | None = params.option(None, "--after", type=params.Integer(0, params.INT64_MAX),
                                      metavar="SEQ",
                                      help="Start after this sequence (default: only new lines)."),
    as_json: bool = JSON,
) -> None:
    """Follow a device's log lines as they arrive (Ctrl-C to stop)."""
    with client() as api:
        follow_logs(api, device, after, as_json)


def follow_logs(api: ApiClient, device: str, after: int | None, as_json: bool) -> None:
    """Print a device's log lines as they arrive (after sequence `after`, else only new ones) until
    Ctrl-C."""
    query = {} if after is None else {"After": after}
    try:
        for name, data in api.events(api_path("v1", "Devices", device, "Logs", "Stream"), **query):
            if name == "log":
                print_log_line(data, as_json)
    except KeyboardInterrupt:
        return
    except ApiError as exc:
        raise fail(str(exc), 1) from None


def print_log_line(data: dict, as_json: bool) -> None:
    """One log line as `logs stream` prints it."""
    if as_json:
        print_json(data)
    else:
        out.print(f"{data.get('date_created', '')} {data.get('text', '')}", markup=False)


# --- configs and secrets --------------------------------------------------------------------------
def _variables(kind: str) -> typer.Typer:
    """`configs` or `secrets`: set, list, delete, for the account or (with --device) one device."""
    group = typer.Typer(help=f"{kind.capitalize()} of the account, or of one device with --device.",
                        no_args_is_help=True)
    resource = kind.capitalize()
    key_name = kind  # the list envelope's key: configs / secrets

    def base(device: str | None, *rest: str) -> str:
        where = ("Devices", device, resource) if device else (resource,)
        return api_path("v1", *where, *rest)

    device_option = params.option(None, "--device", type=params.NAME, metavar="DEVICE",
                                  help="A device instead of the account.")
    key_argument = params.argument(params.NAME, metavar="KEY", help="The variable's name.")

    @group.command("set")
    def set_(key: str = key_argument,
             value: str = params.argument(params.ANY_TEXT, metavar="VALUE", help="Its value."),
             device: str | None = device_option, as_json: bool = JSON) -> None:
        """Create KEY, or change its value."""
        with client() as api:
            try:
                row = api.post(base(device, key), {"Value": value})
            except ApiError as exc:
                if exc.status != 404:
                    raise fail(str(exc), 1) from None
                row = _call(api.post, base(device), {"Key": key, "Value": value})
        print_json(row) if as_json else out.print(f"{kind[:-1]} {key} set")

    @group.command("list")
    def list_(device: str | None = device_option, as_json: bool = JSON) -> None:
        """List the keys (secret values are never shown)."""
        with client() as api:
            rows = _call(lambda: list(api.pages(base(device), key_name)))
        columns = ([("key", "key"), ("value", "value"), ("updated", "date_updated")] if kind == "configs"
                   else [("key", "key"), ("rotated", "date_rotated")])
        print_json(rows) if as_json else _table(rows, columns)

    @group.command("delete")
    def delete(key: str = key_argument, device: str | None = device_option) -> None:
        """Delete KEY."""
        with client() as api:
            _call(api.delete, base(device, key))
        out.print(f"{kind[:-1]} {key} deleted")

    return group


configs = _variables("configs")
secrets = _variables("secrets")
