"""The device pages: the live device list, and a device's details, log, console, crashes and configs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload
from starlette.concurrency import run_in_threadpool

from .. import resources
from ..clock import iso
from ..log_stream import sse_response
from ..models import Config, CrashReport, Device, DeviceLog
from ..params import MAX_ROW_ID
from ..routes.opaque_bytes import follow
from ..store import activity, crashes, debug_messages
from ..store.apps import app_sids_by_hash
from ..store.devices import devices_statement, find_device, logging_active
from .crashes import report_table
from .guard import Refusal, check_origin, check_token, console_router, read_form
from .markup import Markup, document, facts, hidden, join, link, short_hash, table, tag, when
from .sessions import Visitor

router = console_router()
MAX_LISTED = 500  # devices the list shows
RECENT_LINES = 200  # log lines the device page starts with
RECENT_CRASHES = 20
MAX_CONFIGS = 200
MAX_INPUT = 4000  # characters typed at once: with its "\n", within one console message (16 KiB of UTF-8)
DEVICE_HEADINGS = ("Device", "Name", "Online", "Target app", "Reported app", "Update", "Last seen")


def reference(value: str) -> str:
    """A device SID or unique name from a URL: anything else is no device (a 404 page)."""
    if not 1 <= len(value) <= 200 or "/" in value or not all(c.isascii() and c.isprintable() for c in value):
        raise Refusal(404, "There is no such device in this account.")
    return value


def after_parameter(request: Request, last_event_id: str | None) -> int | None:
    """Where a stream resumes: Last-Event-ID (the browser's reconnection), else ?after=, else None."""
    value = last_event_id if last_event_id is not None else request.query_params.get("after")
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 19 and int(value) <= MAX_ROW_ID):
        raise Refusal(400, "after must be a whole number.")
    return int(value)


def device_summary(device: Device, reported: dict[str, str]) -> dict:
    """A device as the list shows it (and the JSON the script refreshes the list from)."""
    target = device.target_app
    return {"sid": device.sid, "unique_name": device.unique_name, "connected": device.connected,
            "target_app": target.sid if target else None,
            "target_name": target.unique_name if target else None,
            "reported_app": reported.get(device.reported_hash or "") or (
                short_hash(device.reported_hash) if device.reported_hash else None),
            "update_status": device.update_status, "update_error_code": device.update_error_code,
            "last_seen": iso(device.date_connection_changed)}


def _listed(session: Session, account_id: int) -> tuple[list[dict], bool]:
    found = list(session.scalars(devices_statement(account_id).options(joinedload(Device.target_app))
                                 .order_by(Device.id).limit(MAX_LISTED + 1)))
    reported = app_sids_by_hash(session, account_id, {d.reported_hash for d in found if d.reported_hash})
    return [device_summary(device, reported) for device in found[:MAX_LISTED]], len(found) > MAX_LISTED


def _cells(row: dict) -> list[object]:
    """The list's cells of a device (console.js builds the same from the JSON)."""
    online = tag("span", "online" if row["connected"] else "offline",
                 class_="state ok" if row["connected"] else "state off")
    target = row["target_app"] or "none"
    if row["target_name"]:
        target = f"{row['target_name']} ({row['target_app']})"
    update = row["update_status"]
    if update == "error":
        update += f" (error {row['update_error_code']})"
    seen = "now" if row["connected"] else (row["last_seen"] or "never").replace("T", " ").rstrip("Z")
    return [link(f"/devices/{row['sid']}", row["sid"], class_="sid"), row["unique_name"] or "", online,
            target, row["reported_app"] or "none", update, seen]


@router.get("/")
def device_list(request: Request, visitor: Visitor) -> Response:
    with request.app.state.service.database.transaction() as session:
        rows, truncated = _listed(session, visitor.account_id)
    head = tag("thead", tag("tr", [tag("th", heading, scope="col") for heading in DEVICE_HEADINGS]))
    body = tag("tbody", [tag("tr", [tag("td", cell) for cell in _cells(row)]) for row in rows])
    parts = [tag("table", head, body, id="devices", class_="list"),
             tag("p", "This account has no devices yet: ", tag("code", "microvisor device create"),
                 " makes one.", id="no-devices", class_="empty", hidden=bool(rows)),
             tag("p", f"Only the first {MAX_LISTED} devices are shown.", id="truncated", class_="note",
                 hidden=not truncated),
             tag("p", "Refreshed every 2 s.", id="refreshed", class_="note", aria_live="polite")]
    return HTMLResponse(document("Devices", Markup("".join(parts)), page="devices",
                                 account_sid=visitor.account_sid, csrf=visitor.csrf))


@router.get("/console/api/devices")
def device_list_json(request: Request, visitor: Visitor) -> Response:
    with request.app.state.service.database.transaction() as session:
        rows, truncated = _listed(session, visitor.account_id)
    return JSONResponse({"devices": rows, "truncated": truncated})


def _recent_lines(session: Session, device: Device) -> list[DeviceLog]:
    newest = session.scalars(activity.logs_statement(device).order_by(DeviceLog.id.desc())
                             .limit(RECENT_LINES))
    return list(reversed(list(newest)))


def _configs(session: Session, account_id: int, device: Device) -> list[Config]:
    """The configs the device sees: its own and the account's (never a secret)."""
    return list(session.scalars(select(Config).where(Config.account_id == account_id,
                                                     or_(Config.scope == device.sid, Config.scope == ""))
                                .order_by(Config.scope.desc(), Config.key).limit(MAX_CONFIGS)))


def _log_items(lines: list[DeviceLog]) -> list[Markup]:
    return [tag("li", when(line.date_created), " ", tag("span", line.text, class_="text"),
                data_sequence=str(line.id)) for line in lines]


def _device_facts(device: Device, summary: dict) -> Markup:
    target = device.target_app
    status = summary["update_status"]
    if status == "error":
        status += f" (error {device.update_error_code})"
    state = tag("span", "online", class_="state ok") if device.connected else tag("span", "offline",
                                                                                   class_="state off")
    logging = Markup("on until ") + when(device.logging_expires) if logging_active(device) else "off"
    return facts([
        ("SID", device.sid), ("Name", device.unique_name or "none"),
        ("Online", state + " since " + when(device.date_connection_changed)),
        ("Target app", f"{target.unique_name or ''} {target.sid}".strip() if target else "none"),
        ("Reported app", summary["reported_app"] or "none"), ("Reported", when(device.date_reported)),
        ("Update", status), ("Logging", logging), ("Registered", when(device.date_created)),
        ("Chip UID", device.chip_uid)])


def _console_section(device: Device, csrf: str) -> Markup:
    form = tag("form", hidden("csrf", csrf),
               tag("label", "Type a line", tag("input", name="line", maxlength=str(MAX_INPUT),
                                               autocomplete="off", spellcheck="false")),
               tag("button", "Send", type="submit"), tag("span", "", id="console-status", class_="note"),
               method="post", action=f"/devices/{device.sid}/console", id="console-input")
    note = tag("p", "What you type reaches the application only while it has its console channel open "
               "(an opaque-bytes channel with the endpoint \"console\"); otherwise it is dropped. Output is "
               "kept for 10 minutes.", class_="note")
    return tag("section", tag("h2", "Console"), note,
               tag("pre", "", id="console-output", class_="console", aria_live="polite"),
               tag("p", "", id="console-stream", class_="note"), form)


@router.get("/devices/{ref}")
def device_page(request: Request, visitor: Visitor, ref: str) -> Response:
    with request.app.state.service.database.transaction() as session:
        device = find_device(session, visitor.account_id, reference(ref))
        reported = app_sids_by_hash(session, visitor.account_id,
                                    {device.reported_hash} if device.reported_hash else set())
        summary = device_summary(device, reported)
        lines = _recent_lines(session, device)
        reports = list(session.scalars(crashes.reports_statement(visitor.account_id)
                                       .where(CrashReport.device_id == device.id)
                                       .order_by(CrashReport.id.desc()).limit(RECENT_CRASHES)))
        crash_table = report_table(reports, show_device=False)
        configs = _configs(session, visitor.account_id, device)
        details = _device_facts(device, summary)
        logging_note = "" if logging_active(device) else tag(
            "p", "Logging is off for this device: its application's lines reach the service only while "
            "logging is on (", tag("code", "microvisor devices update DEVICE --logging"), ").", class_="note")
    log_section = tag("section", tag("h2", "Log"), logging_note,
                      tag("p", f"The newest {RECENT_LINES} lines, then new ones as they come.",
                          class_="note"),
                      tag("ol", _log_items(lines), id="log", class_="log", aria_live="polite"),
                      tag("p", "", id="log-status", class_="note"))
    config_rows = [("device" if row.scope else "account", row.key, tag("span", row.value, class_="value"),
                    when(row.date_updated)) for row in configs]
    body = join((
        tag("section", tag("h2", "Details"), details),
        log_section,
        _console_section(device, visitor.csrf),
        tag("section", tag("h2", "Crash reports"),
            tag("p", f"The newest {RECENT_CRASHES}.", class_="note"), crash_table),
        tag("section", tag("h2", "Configs"),
            table(("Scope", "Key", "Value", "Updated"), config_rows, "No configs for this device."),
            tag("p", "Secrets are never shown.", class_="note"))))
    return HTMLResponse(document(f"Device {device.unique_name or device.sid}", body, page="device",
                                 account_sid=visitor.account_sid, csrf=visitor.csrf,
                                 data={"device": device.sid, "after": str(lines[-1].id if lines else 0)}))


@router.get("/console/api/devices/{ref}/logs")
def device_log_stream(request: Request, visitor: Visitor, ref: str,
                      last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None
                      ) -> StreamingResponse:
    """The device's log lines as server-sent events (as GET /v1/Devices/{Sid}/Logs/Stream)."""
    service = request.app.state.service
    start = after_parameter(request, last_event_id)
    with service.database.transaction() as session:
        device = find_device(session, visitor.account_id, reference(ref))
        if start is None:
            start = activity.last_log_sequence(session, device.id)
        device_id, sid = device.id, device.sid

    def fetch(after_sequence: int) -> list[dict]:
        with service.database.transaction() as reading:
            rows = activity.logs_after(reading, device_id, after_sequence)
            return [resources.log_line(sid, row) for row in rows]

    return sse_response(request, service.wakeups, device_id, start, fetch, "log")


@router.get("/console/api/devices/{ref}/console")
def device_console_stream(request: Request, visitor: Visitor, ref: str,
                          last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None
                          ) -> StreamingResponse:
    """What the device's application writes on its console, as server-sent events (base64 pieces)."""
    service = request.app.state.service
    start = after_parameter(request, last_event_id)
    with service.database.transaction() as session:
        device = find_device(session, visitor.account_id, reference(ref))
        device_id, sid = device.id, device.sid
    return follow(request, service, device_id, sid, start, debug_messages.CONSOLE,
                  service.link.console_wakeups)


@router.post("/devices/{ref}/console")
async def device_console_input(request: Request, visitor: Visitor, ref: str) -> Response:
    """A line typed at the device's console (with its "\n"); the script asks for JSON, a plain form post
    comes back to the device page."""
    check_origin(request)
    form = await read_form(request, {"line": MAX_INPUT})
    check_token(request, form, visitor.csrf)
    service = request.app.state.service

    def sid_of() -> str:
        with service.database.transaction() as session:
            return find_device(session, visitor.account_id, reference(ref)).sid

    sid = await run_in_threadpool(sid_of)
    data = (form.get("line", "") + "\n").encode()
    if not service.console_input(sid, data):
        raise Refusal(503, "This server process runs no device link, so nothing can be typed now.")
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"device_sid": sid, "bytes": len(data)}, status_code=202)
    return RedirectResponse(f"/devices/{sid}", status_code=303)
