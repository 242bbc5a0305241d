"""The crash pages: crash groups with counts per app version, a group's reports with their frames."""

from __future__ import annotations

import json

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from ..models import CrashGroup, CrashReport
from ..store import crashes
from .guard import Refusal, console_router
from .markup import Markup, document, facts, join, link, short_hash, table, tag, when
from .plots import Bar, bar_list
from .sessions import Visitor

router = console_router()
MAX_GROUPS = 200
RECENT_REPORTS = 30
GROUP_REPORTS = 50
MAX_FRAMES = 16  # frames shown of one report


def frames_of(report: CrashReport) -> list[dict]:
    """The report's frames as stored (a list of dicts), or none if they are not that."""
    try:
        found = json.loads(report.frames)
    except ValueError:
        return []
    return [frame for frame in found if isinstance(frame, dict)] if isinstance(found, list) else []


def _address(frame: dict) -> str:
    address = frame.get("address")
    return f"0x{address:08x}" if type(address) is int and address >= 0 else "?"


def _where(frame: dict) -> str:
    function = frame.get("function") if isinstance(frame.get("function"), str) else None
    file, line = frame.get("file"), frame.get("line")
    place = ""
    if isinstance(file, str):  # the file's name without its folders: the group page has the whole path
        name = file.replace("\\", "/").rsplit("/", 1)[-1]
        place = f"{name}:{line}" if type(line) is int else name
    return " ".join(part for part in (function or _address(frame), f"({place})" if place else "") if part)


def app_label(report: CrashReport) -> str:
    if report.app is not None:
        return report.app.unique_name or report.app.sid
    return short_hash(report.manifest_hash) if report.manifest_hash else "unknown app"


def report_table(reports: list[CrashReport], show_device: bool = True) -> Markup:
    """The reports, newest first: when, (device,) app, the fault in words, the top frame, the group."""
    rows = []
    for report in reports:
        found = frames_of(report)
        fault = report.fault or "unreadable"
        if report.sealed:
            fault = "sealed: only the app's developer can open it"
        group = "none"
        if report.group is not None:
            group = link(f"/crashes/{report.group.sid}", report.group.sid, class_="sid")
        cells = [when(report.date_created)]
        if show_device:
            cells.append(link(f"/devices/{report.device.sid}", report.device.unique_name or report.device.sid,
                              class_="sid"))
        cells += [app_label(report), tag("span", fault, class_="fault"),
                  tag("code", _where(found[0])) if found else "", group]
        rows.append(cells)
    headings = ["When"] + (["Device"] if show_device else []) + ["App", "Fault", "Top frame", "Group"]
    return table(headings, rows, "No crash reports.", class_="list")


def version_label(app_sid: str | None, manifest_hash: str) -> str:
    if app_sid:
        return app_sid
    return short_hash(manifest_hash) if manifest_hash else "unknown app"


@router.get("/crashes")
def crash_groups(request: Request, visitor: Visitor) -> Response:
    with request.app.state.service.database.transaction() as session:
        groups = list(session.scalars(crashes.groups_statement(visitor.account_id)
                                      .order_by(CrashGroup.date_last.desc(), CrashGroup.id.desc())
                                      .limit(MAX_GROUPS)))
        rows = []
        for group in groups:
            versions = crashes.group_versions(session, group.id)
            per_version = tag("ul", [tag("li", version_label(sid, digest), ": ", count)
                                     for sid, digest, count in versions], class_="plain")
            rows.append([link(f"/crashes/{group.sid}", group.sid, class_="sid"), group.fault_type,
                         tag("code", " | ".join(_functions(group))), group.count, per_version,
                         when(group.date_first), when(group.date_last)])
        recent = list(session.scalars(crashes.reports_statement(visitor.account_id)
                                      .order_by(CrashReport.id.desc()).limit(RECENT_REPORTS)))
        recent_table = report_table(recent)
    body = join((
        tag("section", tag("h2", "Groups"),
            tag("p", "Readable reports grouped by signature (the fault type and the top three functions), "
                "most recent first.", class_="note"),
            table(("Group", "Fault type", "Functions", "Crashes", "Per app version", "First", "Last"), rows,
                  "No crash groups yet.", class_="list")),
        tag("section", tag("h2", "Recent reports"),
            tag("p", f"The newest {RECENT_REPORTS}, sealed and ungrouped ones too.", class_="note"),
            recent_table)))
    return HTMLResponse(document("Crashes", body, page="crashes", account_sid=visitor.account_sid,
                                 csrf=visitor.csrf))


def _functions(group: CrashGroup) -> list[str]:
    try:
        names = json.loads(group.functions)
    except ValueError:
        return []
    return [str(name) for name in names] if isinstance(names, list) else []


def _frames_table(report: CrashReport) -> Markup:
    rows = []
    for frame in frames_of(report)[:MAX_FRAMES]:
        file, line = frame.get("file"), frame.get("line")
        rows.append([frame.get("source") if isinstance(frame.get("source"), str) else "",
                     tag("code", _address(frame)),
                     tag("code", frame["function"]) if isinstance(frame.get("function"), str) else "unknown",
                     f"{file}:{line}" if isinstance(file, str) and type(line) is int else ""])
    return table(("Frame", "Address", "Function", "File and line"), rows, "No frames.", class_="frames")


@router.get("/crashes/{sid}")
def crash_group(request: Request, visitor: Visitor, sid: str) -> Response:
    if len(sid) > 64:
        raise Refusal(404, "There is no such crash group in this account.")
    with request.app.state.service.database.transaction() as session:
        group = crashes.find_group(session, visitor.account_id, sid)
        versions = crashes.group_versions(session, group.id)
        devices = crashes.group_devices(session, group.id)
        reports = list(session.scalars(select(CrashReport).where(CrashReport.group_id == group.id,
                                                                 CrashReport.account_id == visitor.account_id)
                                       .order_by(CrashReport.id.desc()).limit(GROUP_REPORTS)))
        cards = [tag("article", tag("h3", when(report.date_created), " · ",
                                    link(f"/devices/{report.device.sid}",
                                         report.device.unique_name or report.device.sid),
                                    " · ", app_label(report)),
                     tag("p", report.fault or "", class_="fault"), _frames_table(report), class_="report")
                 for report in reports]
        details = facts([("Signature", tag("code", group.signature)), ("Fault type", group.fault_type),
                         ("Crashes", group.count), ("First", when(group.date_first)),
                         ("Last", when(group.date_last))])
    bars = bar_list("Crashes per app version", [Bar(version_label(app, digest), count)
                                                for app, digest, count in versions], unit="crashes")
    device_rows = [[link(f"/devices/{device}", device, class_="sid"), count] for device, count in devices]
    body = join((
        tag("section", details),
        tag("section", tag("h2", "Per app version"), bars),
        tag("section", tag("h2", "Devices"), table(("Device", "Crashes"), device_rows, "No devices.",
                                                   class_="list")),
        tag("section", tag("h2", "Reports"),
            tag("p", f"The newest {GROUP_REPORTS}, with their frames symbolicated from the app's ELF (when "
                "it was uploaded with one).", class_="note"),
            cards or tag("p", "The group's reports have been pruned.", class_="empty"))))
    return HTMLResponse(document(f"Crash group {group.sid}", body, page="crash-group",
                                 account_sid=visitor.account_sid, csrf=visitor.csrf))
