"""The service's time: UTC now, and the API's timestamp format (ISO 8601 with Z)."""

from __future__ import annotations

import datetime


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def iso(moment: datetime.datetime | None, *, milliseconds: bool = False) -> str | None:
    """2021-01-01T12:34:56Z (or …56.789Z with milliseconds), or None."""
    if moment is None:
        return None
    moment = moment.astimezone(datetime.UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if milliseconds:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"
