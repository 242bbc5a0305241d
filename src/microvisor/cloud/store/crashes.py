"""Crash reports: apps' ELFs, the reports devices sent with what symbolication made of them, their groups.

Bounds: a device keeps its newest MAX_REPORTS_PER_DEVICE reports (its groups keep counting); an account
has at most MAX_GROUPS groups, and a report whose new signature would make one more is kept ungrouped.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
from typing import Any

from sqlalchemy import Select, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...common.sids import is_sid, new_sid
from ..clock import utc_now
from ..errors import NotFound
from ..models import App, AppElf, CrashGroup, CrashReport, CrashTally, Device, ElfFile

log = logging.getLogger(__name__)

REPORT_PREFIX, GROUP_PREFIX = "CR", "CG"
MAX_REPORTS_PER_DEVICE = 200
MAX_GROUPS = 1000
MAX_GROUP_DEVICES = 100  # devices a group's resource lists (the most crashed first)


# --- ELFs ----------------------------------------------------------------------------------------------
def put_elf(session: Session, sha256: str, build_id: str | None, data: bytes) -> None:
    """Store an ELF's bytes once by SHA-256 (a damaged stored copy is replaced)."""
    stored = session.get(ElfFile, sha256)
    if stored is not None:
        if hashlib.sha256(stored.data).hexdigest() != sha256:
            log.warning("stored ELF %s was damaged; replaced by the uploaded bytes", sha256[:16])
            stored.data, stored.size = data, len(data)
            session.flush()
        return
    try:
        with session.begin_nested():  # another upload may store the same ELF concurrently
            session.add(ElfFile(sha256=sha256, build_id=build_id, size=len(data), data=data,
                                date_created=utc_now()))
    except IntegrityError:
        pass


def attach_elf(session: Session, app: App, sha256: str) -> None:
    session.add(AppElf(app_id=app.id, elf_sha256=sha256))
    session.flush()


def app_elf(session: Session, app_id: int) -> str | None:
    """The SHA-256 of the ELF the app was uploaded with, if any."""
    return session.scalar(select(AppElf.elf_sha256).where(AppElf.app_id == app_id))


def elf_bytes(session: Session, sha256: str) -> bytes | None:
    """A stored ELF's bytes, or None when none is stored or its bytes no longer match their hash."""
    data = session.scalar(select(ElfFile.data).where(ElfFile.sha256 == sha256))
    if data is None or hashlib.sha256(data).hexdigest() != sha256:
        return None
    return data


def drop_unused_elfs(session: Session) -> None:
    """Delete the ELFs no app names any more."""
    session.execute(delete(ElfFile).where(~exists().where(AppElf.elf_sha256 == ElfFile.sha256)))


# --- reports -------------------------------------------------------------------------------------------
def reported_app(session: Session, device: Device) -> App | None:
    """The account's app whose manifest the device last reported running, if the account has it."""
    if not device.reported_hash:
        return None
    return session.scalar(select(App).where(App.account_id == device.account_id,
                                            App.manifest_hash == device.reported_hash))


def record(session: Session, device: Device, app: App | None, details: dict[str, Any],
           analysis: Any | None, when: datetime.datetime | None = None) -> CrashReport:
    """Keep a crash report of the device (analysis: symbolication.Analysis, None for a sealed or
    unreadable report), count it in its group, and prune the device's oldest reports."""
    now = when or utc_now()
    manifest_hash = app.manifest_hash if app is not None else None
    group = None
    if analysis is not None:
        group = _group(session, device.account_id, analysis, now)
        if group is not None:
            _tally(session, group.id, device.id, manifest_hash or "", now)
    row = CrashReport(sid=new_sid(REPORT_PREFIX), account_id=device.account_id, device_id=device.id,
                      app_id=app.id if app is not None else None, manifest_hash=manifest_hash,
                      group_id=group.id if group is not None else None,
                      sealed=bool(details.get("sealed")),
                      fault=analysis.fault if analysis is not None else None,
                      report=json.dumps(details, sort_keys=True),
                      frames=json.dumps(analysis.frames if analysis is not None else []),
                      date_created=now)
    session.add(row)
    session.flush()
    _prune(session, device.id)
    return row


def _group(session: Session, account_id: int, analysis: Any, now: datetime.datetime) -> CrashGroup | None:
    def find() -> CrashGroup | None:
        return session.scalar(select(CrashGroup).where(CrashGroup.account_id == account_id,
                                                       CrashGroup.signature_hash == analysis.signature_hash))

    group = find()
    if group is None:
        count = session.scalar(select(func.count()).select_from(CrashGroup)
                               .where(CrashGroup.account_id == account_id))
        if count >= MAX_GROUPS:
            log.warning("account has %d crash groups: a report with a new signature is kept ungrouped", count)
            return None
        try:
            with session.begin_nested():  # another worker may make the same group concurrently
                session.add(CrashGroup(sid=new_sid(GROUP_PREFIX), account_id=account_id,
                                       signature_hash=analysis.signature_hash, signature=analysis.signature,
                                       fault_type=analysis.fault_type[:300],
                                       functions=json.dumps(analysis.functions), count=0,
                                       date_first=now, date_last=now))
        except IntegrityError:
            pass
        group = find()
        if group is None:
            return None
    session.execute(update(CrashGroup).where(CrashGroup.id == group.id)
                    .values(count=CrashGroup.count + 1, date_last=now))
    session.refresh(group)
    return group


def _tally(session: Session, group_id: int, device_id: int, manifest_hash: str,
           now: datetime.datetime) -> None:
    key = {"group_id": group_id, "device_id": device_id, "manifest_hash": manifest_hash}
    done = session.execute(update(CrashTally).filter_by(**key).values(count=CrashTally.count + 1,
                                                                      date_last=now))
    if done.rowcount:
        return
    try:
        with session.begin_nested():
            session.add(CrashTally(**key, count=1, date_last=now))
    except IntegrityError:  # made concurrently: count this one on it
        session.execute(update(CrashTally).filter_by(**key).values(count=CrashTally.count + 1, date_last=now))


def _prune(session: Session, device_id: int) -> None:
    cutoff = session.scalar(select(CrashReport.id).where(CrashReport.device_id == device_id)
                            .order_by(CrashReport.id.desc()).offset(MAX_REPORTS_PER_DEVICE).limit(1))
    if cutoff is not None:
        session.execute(delete(CrashReport).where(CrashReport.device_id == device_id,
                                                  CrashReport.id <= cutoff))


def reports_statement(account_id: int, app_id: int | None = None,
                      since: datetime.datetime | None = None) -> Select:
    statement = select(CrashReport).where(CrashReport.account_id == account_id)
    if app_id is not None:
        statement = statement.where(CrashReport.app_id == app_id)
    if since is not None:
        statement = statement.where(CrashReport.date_created >= since)
    return statement


def find_report(session: Session, account_id: int, sid: str) -> CrashReport:
    row = session.scalar(select(CrashReport).where(CrashReport.account_id == account_id,
                                                   CrashReport.sid == sid)) if is_sid(sid, "CR") else None
    if row is None:
        raise NotFound(f"no crash report {sid} in this account")
    return row


def groups_statement(account_id: int) -> Select:
    return select(CrashGroup).where(CrashGroup.account_id == account_id)


def find_group(session: Session, account_id: int, sid: str) -> CrashGroup:
    row = session.scalar(select(CrashGroup).where(CrashGroup.account_id == account_id,
                                                  CrashGroup.sid == sid)) if is_sid(sid, "CG") else None
    if row is None:
        raise NotFound(f"no crash group {sid} in this account")
    return row


def group_versions(session: Session, group_id: int) -> list[tuple[str | None, str, int]]:
    """(app SID or None, manifest hash, count) of each app version the group's crashes ran."""
    rows = session.execute(
        select(CrashTally.manifest_hash, func.sum(CrashTally.count), func.max(App.sid))
        .select_from(CrashTally)
        .join(CrashGroup, CrashGroup.id == CrashTally.group_id)
        .outerjoin(App, (App.account_id == CrashGroup.account_id)
                   & (App.manifest_hash == CrashTally.manifest_hash) & (CrashTally.manifest_hash != ""))
        .where(CrashTally.group_id == group_id)
        .group_by(CrashTally.manifest_hash).order_by(CrashTally.manifest_hash))
    return [(sid, manifest_hash, int(count)) for manifest_hash, count, sid in rows]


def group_devices(session: Session, group_id: int) -> list[tuple[str, int]]:
    """(device SID, count) of the devices that had the group's crashes, the most crashed first (bounded)."""
    total = func.sum(CrashTally.count)
    rows = session.execute(select(Device.sid, total).join(Device, Device.id == CrashTally.device_id)
                           .where(CrashTally.group_id == group_id).group_by(Device.sid)
                           .order_by(total.desc(), Device.sid).limit(MAX_GROUP_DEVICES))
    return [(sid, int(count)) for sid, count in rows]
