"""A device's activity: its app's log lines and the events of its life (connects, updates, crashes)."""

from __future__ import annotations

import datetime
import json
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..clock import utc_now
from ..models import Device, DeviceEvent, DeviceLog

# Event kinds the service records.
REGISTERED = "registered"
CONNECTED = "connected"
DISCONNECTED = "disconnected"
APP_TARGETED = "app-targeted"
APP_REPORTED = "app-reported"
UPDATE_COMPLETE = "update-complete"
UPDATE_FAILED = "update-failed"
CRASH = "crash"
RESTART_REQUESTED = "restart-requested"
EVENT_KINDS = (REGISTERED, CONNECTED, DISCONNECTED, APP_TARGETED, APP_REPORTED, UPDATE_COMPLETE,
               UPDATE_FAILED, CRASH, RESTART_REQUESTED)
MAX_LOG_LINE = 4096


def record_logs(session: Session, device: Device, boot: str, first: int, lines: list[str],
                when: datetime.datetime | None = None) -> int:
    """Log lines numbered first, first + 1, … within a boot; those stored already are skipped (the
    device sends a batch again until it is acknowledged). Over-long lines are cut. Returns how many
    were new."""
    if not lines:
        return 0
    when = when or utc_now()
    rows = [{"device_id": device.id, "boot": boot, "sequence": first + offset, "text": text[:MAX_LOG_LINE],
             "date_created": when} for offset, text in enumerate(lines)]
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    statement = insert(DeviceLog).values(rows).on_conflict_do_nothing(
        index_elements=["device_id", "boot", "sequence"]).returning(DeviceLog.id)
    return len(session.execute(statement).all())


def logs_statement(device: Device) -> Select:
    return select(DeviceLog).where(DeviceLog.device_id == device.id)


def logs_after(session: Session, device_id: int, after: int, limit: int = 500) -> list[DeviceLog]:
    """Log lines with a sequence number above after, oldest first."""
    statement = select(DeviceLog).where(DeviceLog.device_id == device_id, DeviceLog.id > after)
    return list(session.scalars(statement.order_by(DeviceLog.id).limit(limit)))


def last_log_sequence(session: Session, device_id: int) -> int:
    return session.scalar(select(func.max(DeviceLog.id)).where(DeviceLog.device_id == device_id)) or 0


def record_event(session: Session, device: Device, kind: str, details: dict[str, Any] | None = None,
                 when: datetime.datetime | None = None) -> DeviceEvent:
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown device event kind {kind!r}")
    event = DeviceEvent(device_id=device.id, kind=kind, date_created=when or utc_now(),
                        details=json.dumps(details or {}, sort_keys=True))
    session.add(event)
    session.flush()
    return event


def events_statement(device: Device) -> Select:
    return select(DeviceEvent).where(DeviceEvent.device_id == device.id)
