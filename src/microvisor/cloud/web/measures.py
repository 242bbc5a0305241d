"""The overview's numbers, each from a bounded query: log lines, connected devices, crashes per version."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Integer, cast, func, literal_column, select
from sqlalchemy.orm import Session

from ..models import CrashReport, Device, DeviceEvent, DeviceLog
from ..store.activity import CONNECTED, DISCONNECTED
from ..store.apps import app_sids_by_hash
from .markup import short_hash
from .plots import Series

MAX_EVENTS = 10_000  # connection events read for one plot, the newest first
MAX_ROWS = 5_000  # (version, bucket) counts read for one plot
MAX_VERSIONS = 5  # versions plotted apart; the rest are summed as "other versions"
IN_CHUNK = 500


@dataclass(frozen=True)
class Window:
    """A span of time ending now, cut into buckets aligned to whole multiples of the bucket's length."""

    start: datetime.datetime
    bucket: datetime.timedelta
    count: int

    @property
    def end(self) -> datetime.datetime:
        return self.start + self.bucket * self.count

    @classmethod
    def ending(cls, now: datetime.datetime, span: datetime.timedelta, bucket: datetime.timedelta) -> Window:
        width = int(bucket.total_seconds())
        count = int(span / bucket)
        current = int(now.timestamp()) // width * width  # the start of the bucket now is in
        start = datetime.datetime.fromtimestamp(current - width * (count - 1), datetime.UTC)
        return cls(start, bucket, count)

    def moment(self, index: int) -> datetime.datetime:
        return self.start + self.bucket * index


def _bucket(session: Session, column, window: Window) -> ColumnElement[int]:
    """The index of the window's bucket a timestamp column falls in, computed by the database. The
    constants are written into the SQL (they are numbers made here), so GROUP BY repeats the very
    expression of the select list."""
    start, width = int(window.start.timestamp()), int(window.bucket.total_seconds())
    if session.get_bind().dialect.name == "sqlite":  # naive UTC text to whole seconds; integer division
        seconds = cast(func.strftime("%s", column), Integer) - literal_column(str(start))
        return seconds.self_group().op("/")(literal_column(str(width)))  # plain "/" (SQLAlchemy's is real)
    seconds = func.extract("epoch", column) - literal_column(str(start))
    return cast(func.floor(seconds / literal_column(str(width))), Integer)


def log_lines(session: Session, account_id: int, window: Window) -> list[tuple[datetime.datetime, int]]:
    """Log lines stored per bucket, from every device of the account."""
    bucket = _bucket(session, DeviceLog.date_created, window)
    rows = session.execute(select(bucket, func.count()).select_from(DeviceLog)
                           .join(Device, Device.id == DeviceLog.device_id)
                           .where(Device.account_id == account_id, DeviceLog.date_created >= window.start)
                           .group_by(bucket).limit(window.count + 1)).all()
    counts: dict[int, int] = {}
    for index, count in rows:
        if index is not None:
            counts[int(index)] = counts.get(int(index), 0) + int(count)
    return [(window.moment(index), counts.get(index, 0)) for index in range(window.count)]


def connected_devices(session: Session, account_id: int,
                      window: Window) -> tuple[list[tuple[datetime.datetime, int]], bool]:
    """How many of the account's devices were connected, as steps: the count now, walked back through the
    window's connect and disconnect events (the newest MAX_EVENTS; True when there were more, and the
    steps then start at the oldest event read)."""
    events = session.execute(
        select(DeviceEvent.device_id, DeviceEvent.kind, DeviceEvent.date_created)
        .join(Device, Device.id == DeviceEvent.device_id)
        .where(Device.account_id == account_id, DeviceEvent.kind.in_((CONNECTED, DISCONNECTED)),
               DeviceEvent.date_created >= window.start)
        .order_by(DeviceEvent.id.desc()).limit(MAX_EVENTS + 1)).all()
    truncated = len(events) > MAX_EVENTS
    events = events[:MAX_EVENTS]
    count = session.scalar(select(func.count()).select_from(Device)
                           .where(Device.account_id == account_id, Device.connected.is_(True))) or 0
    ids = sorted({device_id for device_id, _, _ in events})
    state: dict[int, bool] = {}
    for first in range(0, len(ids), IN_CHUNK):
        state.update(session.execute(select(Device.id, Device.connected)
                                     .where(Device.id.in_(ids[first:first + IN_CHUNK]))).all())
    points = []
    for device_id, kind, moment in events:  # newest first: the count after each event, then undo it
        points.append((moment, count))
        after, before = state.get(device_id, False), kind == DISCONNECTED
        count += int(before) - int(after)
        state[device_id] = before
    points.append((events[-1][2] if truncated else window.start, count))
    points.reverse()
    return points, truncated


def crashes_per_version(session: Session, account_id: int, window: Window) -> tuple[list[Series], bool]:
    """Crash reports per bucket and app version (labelled with the account's app SID, else the manifest
    hash); the MAX_VERSIONS with most reports apart, the rest summed. True when rows were left unread."""
    bucket = _bucket(session, CrashReport.date_created, window)
    rows = session.execute(select(CrashReport.manifest_hash, bucket, func.count())
                           .where(CrashReport.account_id == account_id,
                                  CrashReport.date_created >= window.start)
                           .group_by(CrashReport.manifest_hash, bucket).limit(MAX_ROWS + 1)).all()
    truncated = len(rows) > MAX_ROWS
    per_version: dict[str | None, dict[int, int]] = {}
    for manifest_hash, index, count in rows[:MAX_ROWS]:
        if index is not None and 0 <= int(index) < window.count:
            counts = per_version.setdefault(manifest_hash, {})
            counts[int(index)] = counts.get(int(index), 0) + int(count)
    ranked = sorted(per_version, key=lambda key: (-sum(per_version[key].values()), key or ""))
    names = app_sids_by_hash(session, account_id, {key for key in ranked if key})
    series = []
    for key in ranked[:MAX_VERSIONS]:
        label = names.get(key) or (short_hash(key) if key else "unknown app")
        series.append(_series(label, per_version[key], window))
    if len(ranked) > MAX_VERSIONS:
        rest: dict[int, int] = {}
        for key in ranked[MAX_VERSIONS:]:
            for index, count in per_version[key].items():
                rest[index] = rest.get(index, 0) + count
        series.append(_series("other versions", rest, window))
    return series, truncated


def _series(name: str, counts: dict[int, int], window: Window) -> Series:
    return Series(name, [(window.moment(index), counts[index]) for index in sorted(counts)])
