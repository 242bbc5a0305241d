"""`microvisor crashes …`: crash reports, symbolicated by the service; sealed ones opened here."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import typer

from . import params
from .output import fail, out, print_json

app = typer.Typer(help="Crash reports of the account's devices (symbolicated when the app has its ELF).",
                  no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON.")
_DURATION = re.compile(r"([0-9]{1,9})([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Since(params.ParamType):
    """A moment: ISO 8601 (a moment without an offset is UTC) or a duration back from now (30m, 2h, 7d)."""

    metavar = "WHEN"

    def __init__(self) -> None:
        super().__init__("a moment: an ISO 8601 date and time, or a duration back from now such as 30m, "
                         "2h or 7d", "ISO 8601, or a duration: N s, m, h or d")

    def check(self, text: str) -> str:
        duration = _DURATION.fullmatch(text)
        if duration:
            seconds = int(duration.group(1)) * _UNIT[duration.group(2)]
            try:
                moment = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds)
            except OverflowError:
                raise self.refuse(text, "it is too long ago") from None
        else:
            try:
                moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise self.refuse(text) from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
        try:
            moment = moment.astimezone(datetime.UTC)
        except (OverflowError, ValueError):
            raise self.refuse(text, "it is out of range") from None
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond:06d}Z"


CRASH_SID = params.Pattern(r"CR[0-9a-f]{32}", "a crash report SID", "CR and 32 hex digits", "SID")
LIST_COLUMNS = [("sid", "sid"), ("received", "date_created"), ("device", "device_sid"),
                ("signature (fault, top functions)", "signature")]


@app.command("list")
def crashes_list(
    app_name: str | None = params.option(None, "--app", type=params.NAME, metavar="APP",
                                         help="Only this app's crashes (SID or unique name)."),
    since: str | None = params.option(None, "--since", type=Since(),
                                      help="Only crashes received since then."),
    as_json: bool = JSON,
) -> None:
    """List the account's crash reports, oldest first."""
    from .credentials import client
    from .service_cmds import _call, _table

    query = {name: value for name, value in (("App", app_name), ("Since", since)) if value}
    with client() as api:
        rows = _call(lambda: list(api.pages("/v1/Crashes", "crashes", 100, **query)))
    print_json(rows) if as_json else _table(rows, LIST_COLUMNS)


@app.command("show")
def crashes_show(
    sid: str = params.argument(CRASH_SID, metavar="ID", help="The crash report's SID."),
    as_json: bool = JSON,
    key: Path | None = params.option(None, "--key", type=params.INPUT_FILE, metavar="PRIVATE.pem",
                                     help="The app developer's private key, to open a report the app's "
                                          "CrashPolicy sealed (decrypted here; the key never leaves)."),
) -> None:
    """Show one crash report: the fault in words, the frames (function, file, line) and the registers."""
    from ..common.api_client import api_path
    from .credentials import client
    from .service_cmds import _call

    with client() as api:
        report = _call(api.get, api_path("v1", "Crashes", sid))
    if report.get("sealed"):
        if key is None:
            raise fail(f"crash report {sid} is sealed by its app's CrashPolicy: give --key with the app "
                       "developer's private key to read it.")
        report = _opened(report, key)
    if as_json:
        print_json(report)
        return
    _print(report)


def _opened(report: dict, key: Path) -> dict:
    """A sealed report with its document decrypted here, and the fault in words and the (unsymbolicated)
    PC and LR frames made from it."""
    import base64
    import binascii

    from ..cloud import symbolication
    from ..common import crash_report, keys

    try:
        private = keys.load_private(key)
    except keys.KeyFileError as exc:
        raise fail(f"--key: {exc}") from None
    try:
        blob = base64.b64decode(report.get("sealed_report") or "", validate=True)
        document = crash_report.decode(blob, private)
    except binascii.Error:
        raise fail(f"the service's copy of crash report {report.get('sid')} is not base 64.", 1) from None
    except crash_report.CrashReportError as exc:
        raise fail(f"crash report {report.get('sid')} cannot be opened: {exc}.", 1) from None
    analysis = symbolication.analyse(document, None)
    registers = document.get("registers")
    return {**report, "report": document, "fault": analysis.fault, "frames": analysis.frames,
            "registers": registers if isinstance(registers, dict) else None,
            "fault_status": document.get("fault_status")}


def _print(report: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    def text(value: object) -> str:
        return escape("-" if value in (None, "") else str(value))

    out.print(f"crash {text(report.get('sid'))} on {text(report.get('device_sid'))}, "
              f"app {text(report.get('app_sid'))}, received {text(report.get('date_created'))}"
              + (" (sealed; opened with --key)" if report.get("sealed") else ""))
    out.print(f"fault: {text(report.get('fault'))}")
    if report.get("group_sid"):
        out.print(f"group {text(report.get('group_sid'))}: {text(report.get('signature'))}")
    frames = Table(box=None, title="frames", title_justify="left")
    for column in ("from", "address", "function", "where"):
        frames.add_column(column, overflow="fold")
    for frame in report.get("frames") or []:
        where = f"{frame.get('file')}:{frame.get('line')}" if frame.get("file") else "-"
        address = frame.get("address")
        frames.add_row(text(frame.get("source")), f"0x{address:08x}" if type(address) is int else "-",
                       text(frame.get("function") or "?"), text(where))
    out.print(frames)
    registers = report.get("registers") or {}
    if isinstance(registers, dict) and registers:
        table = Table(box=None, show_header=False, title="registers", title_justify="left")
        cells = [f"{escape(str(name))} 0x{value:08x}" for name, value in registers.items()
                 if type(value) is int and 0 <= value < 2**32]
        for _ in range(4):
            table.add_column()
        for start in range(0, len(cells), 4):
            row = cells[start:start + 4]
            table.add_row(*row, *([""] * (4 - len(row))))
        out.print(table)
