"""A device's opaque streams, kept as they came, briefly (per stream its newest 1,000, for 10 minutes).

Two streams share the table and this code: "debug", the remote-debugging messages a device sends, and
"console", what its application writes on its console channel. Sequences (row ids) are shared by both,
so each stream's are increasing but not consecutive.
"""

from __future__ import annotations

import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..clock import utc_now
from ..models import Device, DeviceDebugMessage

DEBUG, CONSOLE = "debug", "console"
STREAMS = (DEBUG, CONSOLE)
KEEP_LAST = 1000  # messages kept per device and stream
KEEP_FOR = datetime.timedelta(minutes=10)
READ_BATCH = 50  # messages read at once (each up to 64 KiB)


def record(session: Session, device: Device, payload: bytes, when: datetime.datetime | None = None, *,
           stream: str = DEBUG) -> int:
    """Store one message of the device's `stream`; returns its sequence (the row id). The device's row is
    locked first (PostgreSQL; SQLite writes one at a time anyway), so its messages are committed in the
    order of their sequences even when several server processes store them: a stream that has read up to
    a sequence never misses a lower one committed later."""
    session.execute(select(Device.id).where(Device.id == device.id).with_for_update())
    row = DeviceDebugMessage(device_id=device.id, stream=_checked(stream), payload=payload,
                             date_created=when or utc_now())
    session.add(row)
    session.flush()
    return row.id


def prune(session: Session, device_id: int, now: datetime.datetime | None = None, *,
          stream: str = DEBUG) -> int:
    """Delete every device's messages older than KEEP_FOR and this device's beyond its newest KEEP_LAST of
    `stream` (both found through an index); returns how many went."""
    table = DeviceDebugMessage
    expired = delete(table).where(table.date_created < (now or utc_now()) - KEEP_FOR)
    gone = session.execute(expired, execution_options={"synchronize_session": False}).rowcount
    mine = (table.device_id == device_id, table.stream == _checked(stream))
    newest_dropped = session.scalar(select(table.id).where(*mine)
                                    .order_by(table.id.desc()).offset(KEEP_LAST).limit(1))
    if newest_dropped is not None:
        surplus = delete(table).where(*mine, table.id <= newest_dropped)
        gone += session.execute(surplus, execution_options={"synchronize_session": False}).rowcount
    return gone


def messages_after(session: Session, device_id: int, after: int, limit: int = READ_BATCH,
                   now: datetime.datetime | None = None, *, stream: str = DEBUG) -> list[DeviceDebugMessage]:
    """The device's messages of `stream` with a sequence above after, oldest first; none older than
    KEEP_FOR."""
    table = DeviceDebugMessage
    statement = select(table).where(
        table.device_id == device_id, table.stream == _checked(stream), table.id > after,
        table.date_created >= (now or utc_now()) - KEEP_FOR)
    return list(session.scalars(statement.order_by(table.id).limit(limit)))


def last_sequence(session: Session, device_id: int, *, stream: str = DEBUG) -> int:
    """The sequence of the device's newest message of `stream` (0: none)."""
    table = DeviceDebugMessage
    statement = select(func.max(table.id)).where(table.device_id == device_id,
                                                 table.stream == _checked(stream))
    return session.scalar(statement) or 0


def _checked(stream: str) -> str:
    if stream not in STREAMS:
        raise ValueError(f"{stream!r} is not a device stream")
    return stream
