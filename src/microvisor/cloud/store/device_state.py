"""What devices tell the service over the link (connection, running app, update errors, crashes),
and what the service has queued for them (commands, the target app)."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import utc_now
from ..errors import NotFound
from ..models import Account, App, Device, DeviceCommand
from . import activity
from .devices import ERROR, PENDING, UP_TO_DATE


def device_by_sid(session: Session, sid: str) -> Device:
    """Any enabled account's device by SID (the link knows a device by its certificate, not by an
    account); a disabled account's devices are not found, so the link ignores them."""
    device = session.scalar(select(Device).join(Account)
                            .where(Device.sid == sid, Account.disabled.is_(False)))
    if device is None:
        raise NotFound(f"no device {sid}")
    return device


def set_connected(session: Session, device: Device, connected: bool, details: dict[str, Any] | None = None,
                  when: datetime.datetime | None = None) -> None:
    """The device connected or disconnected; an event records it."""
    when = when or utc_now()
    device.connected = connected
    device.date_connection_changed = when
    activity.record_event(session, device, activity.CONNECTED if connected else activity.DISCONNECTED,
                          details, when=when)


def record_reported_app(session: Session, device: Device, manifest_hash: str | None,
                        when: datetime.datetime | None = None) -> None:
    """The device runs the app with this manifest hash (None: no app); completes a pending update."""
    when = when or utc_now()
    changed = manifest_hash != device.reported_hash
    device.reported_hash, device.date_reported = manifest_hash, when
    target = device.target_app
    if target is not None and manifest_hash == target.manifest_hash:
        if device.update_status != UP_TO_DATE:
            activity.record_event(session, device, activity.UPDATE_COMPLETE,
                                  {"app_sid": target.sid, "hash": manifest_hash}, when=when)
        device.update_status, device.update_error_code = UP_TO_DATE, 0
    elif changed:
        activity.record_event(session, device, activity.APP_REPORTED, {"hash": manifest_hash}, when=when)
    session.flush()


def record_update_error(session: Session, device: Device, error_code: int, message: str = "",
                        when: datetime.datetime | None = None) -> None:
    """The device could not install its target app: the update stops at `error` with this code."""
    when = when or utc_now()
    target = device.target_app
    if target is not None and device.update_status == PENDING:
        device.update_status, device.update_error_code = ERROR, error_code
    activity.record_event(session, device, activity.UPDATE_FAILED,
                          {"app_sid": target.sid if target else None, "error_code": error_code,
                           "message": message}, when=when)
    session.flush()


def record_crash(session: Session, device: Device, details: dict[str, Any],
                 when: datetime.datetime | None = None) -> None:
    activity.record_event(session, device, activity.CRASH, details, when=when)


def desired_app(device: Device) -> App | None:
    """The app the device should run (its target), or None."""
    return device.target_app


def pending_commands(session: Session, device: Device) -> list[DeviceCommand]:
    """Commands not yet delivered to the device, oldest first."""
    return list(session.scalars(select(DeviceCommand).where(DeviceCommand.device_id == device.id,
                                                           DeviceCommand.date_delivered.is_(None))
                                .order_by(DeviceCommand.id)))


def mark_delivered(session: Session, device: Device, command_id: int,
                   when: datetime.datetime | None = None) -> None:
    command = session.get(DeviceCommand, command_id)
    if command is None or command.device_id != device.id:
        raise NotFound(f"no command {command_id} for device {device.sid}")
    command.date_delivered = when or utc_now()
    session.flush()
