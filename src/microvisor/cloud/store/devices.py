"""Devices as their account sees them: registration, lookup, and the updates a developer asks for."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from ...common.sids import is_sid
from ..clock import utc_now
from ..errors import Conflict, NotFound
from ..models import App, DeploymentDevice, Device, DeviceCommand
from . import activity
from .apps import target_app

PENDING, UP_TO_DATE, ERROR = "pending", "up-to-date", "error"
LOGGING_PERIOD = datetime.timedelta(hours=24)
RESTART_APP, RESTART_DEVICE = "restart-app", "restart-device"
# A device's part in a deployment (store/deployments.py); a developer's own retarget makes it LEFT.
WAITING, TARGETED, UPDATED, FAILED, LEFT, ROLLED_BACK = ("waiting", "targeted", "updated", "failed", "left",
                                                         "rolled-back")
IN_DEPLOYMENT = (WAITING, TARGETED, UPDATED, FAILED)


def register_device(session: Session, account_id: int, sid: str, chip_uid: bytes, certificate_pem: str,
                    unique_name: str | None = None) -> tuple[Device, bool]:
    """Record a device (or re-issue the certificate of one this account has); True when it is new."""
    device = session.scalar(select(Device).where(Device.sid == sid))
    if device is not None and device.account_id != account_id:
        raise Conflict(f"Device {sid} is registered to another account.")
    if unique_name is not None:
        _check_free_name(session, account_id, unique_name, device)
    now = utc_now()
    if device is not None:
        device.certificate, device.date_updated = certificate_pem, now
        if unique_name is not None:
            device.unique_name = unique_name
        session.flush()
        return device, False
    device = Device(sid=sid, account_id=account_id, unique_name=unique_name, chip_uid=chip_uid.hex(),
                    certificate=certificate_pem, update_status=UP_TO_DATE, update_error_code=0,
                    logging_enabled=False, connected=False, date_created=now, date_updated=now)
    session.add(device)
    session.flush()
    activity.record_event(session, device, activity.REGISTERED, when=now)
    return device, True


def devices_statement(account_id: int) -> Select:
    return select(Device).where(Device.account_id == account_id)


def find_device(session: Session, account_id: int, reference: str) -> Device:
    """The account's device by SID or unique name, else NotFound (also for another account's device)."""
    column = Device.sid if is_sid(reference, "UV") else Device.unique_name
    device = session.scalar(select(Device).where(Device.account_id == account_id, column == reference))
    if device is None:
        raise NotFound(f"no device {reference} in this account")
    return device


@dataclass
class DeviceChanges:
    """What POST /v1/Devices/{Sid} asks for; None leaves a property as it is."""

    unique_name: str | None = None
    target_app: str | None = None  # SID or unique name; "" clears the target
    logging_enabled: bool | None = None
    restart_app: bool = False
    restart_device: bool = False


def update_device(session: Session, device: Device, changes: DeviceChanges) -> Device:
    now = utc_now()
    if changes.unique_name is not None:
        name = changes.unique_name or None
        if name is not None:
            _check_free_name(session, device.account_id, name, device)
        device.unique_name = name
    if changes.target_app is not None:
        _retarget(session, device, changes.target_app, now)
    if changes.logging_enabled is not None:
        device.logging_enabled = changes.logging_enabled
        device.logging_expires = now + LOGGING_PERIOD if changes.logging_enabled else None
    for wanted, kind, what in ((changes.restart_app, RESTART_APP, "app"),
                               (changes.restart_device, RESTART_DEVICE, "device")):
        if wanted:
            session.add(DeviceCommand(device_id=device.id, kind=kind, date_created=now))
            activity.record_event(session, device, activity.RESTART_REQUESTED, {"what": what}, when=now)
    device.date_updated = now
    session.flush()
    return device


def logging_active(device: Device, now: datetime.datetime | None = None) -> bool:
    now = now or utc_now()
    return device.logging_enabled and device.logging_expires is not None and device.logging_expires > now


def _retarget(session: Session, device: Device, reference: str, now: datetime.datetime) -> None:
    """A developer's own choice of target takes the device out of any deployment that would target it."""
    app = target_app(session, device.account_id, reference) if reference else None
    session.execute(update(DeploymentDevice)
                    .where(DeploymentDevice.device_id == device.id, DeploymentDevice.state.in_(IN_DEPLOYMENT))
                    .values(state=LEFT))
    set_target(session, device, app, now)


def set_target(session: Session, device: Device, app: App | None, now: datetime.datetime) -> None:
    """Target the device at this app (None: no target); the link tells the device."""
    device.target_app = app
    device.date_targeted = now if app is not None else None
    device.update_error_code = 0
    if app is None or device.reported_hash == app.manifest_hash:
        device.update_status = UP_TO_DATE
    else:
        device.update_status = PENDING
    details = {"app_sid": app.sid, "hash": app.manifest_hash} if app is not None else {"app_sid": None}
    activity.record_event(session, device, activity.APP_TARGETED, details, when=now)


def _check_free_name(session: Session, account_id: int, name: str, device: Device | None) -> None:
    holder = session.scalar(select(Device.id).where(Device.account_id == account_id,
                                                    Device.unique_name == name))
    if holder is not None and (device is None or holder != device.id):
        raise Conflict(f"This account has a device named {name!r} already.")
