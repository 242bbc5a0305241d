"""Configs and secrets, of an account or of one of its devices; secret values are sealed at rest."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..clock import utc_now
from ..errors import Conflict, NotFound
from ..models import Config, Device, Secret
from ..secret_box import SecretBox

Variable = Config | Secret


def scope_of(device: Device | None) -> str:
    return device.sid if device is not None else ""


def statement(model: type[Variable], account_id: int, device: Device | None) -> Select:
    return select(model).where(model.account_id == account_id, model.scope == scope_of(device))


def find(session: Session, model: type[Variable], account_id: int, device: Device | None,
         key: str) -> Variable:
    row = session.scalar(statement(model, account_id, device).where(model.key == key))
    if row is None:
        what = "config" if model is Config else "secret"
        raise NotFound(f"no {what} {key!r}" + (f" for device {device.sid}" if device else ""))
    return row


def create_config(session: Session, account_id: int, device: Device | None, key: str, value: str) -> Config:
    row = Config(account_id=account_id, device_id=device.id if device else None, scope=scope_of(device),
                 key=key, value=value, date_updated=utc_now())
    return _insert(session, row, "config")


def update_config(row: Config, value: str) -> Config:
    row.value, row.date_updated = value, utc_now()
    return row


def create_secret(session: Session, box: SecretBox, account_id: int, device: Device | None, key: str,
                  value: str) -> Secret:
    scope = scope_of(device)
    row = Secret(account_id=account_id, device_id=device.id if device else None, scope=scope, key=key,
                 ciphertext=box.seal(value, _context(account_id, scope, key)), date_rotated=utc_now())
    return _insert(session, row, "secret")


def update_secret(box: SecretBox, row: Secret, value: str) -> Secret:
    row.ciphertext = box.seal(value, _context(row.account_id, row.scope, row.key))
    row.date_rotated = utc_now()
    return row


def secret_value(box: SecretBox, row: Secret) -> str:
    """The plaintext (for delivery to a device over the link; the REST API never returns it)."""
    return box.open_sealed(row.ciphertext, _context(row.account_id, row.scope, row.key))


def delete(session: Session, row: Variable) -> None:
    session.delete(row)
    session.flush()


def _insert(session: Session, row: Variable, what: str) -> Variable:
    model = type(row)
    existing = session.scalar(select(model.id).where(model.account_id == row.account_id,
                                                     model.scope == row.scope, model.key == row.key))
    if existing is not None:
        raise Conflict(f"A {what} with key {row.key!r} exists already; update it instead.")
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise Conflict(f"A {what} with key {row.key!r} exists already; update it instead.") from None
    return row


def _context(account_id: int, scope: str, key: str) -> str:
    return f"{account_id}/{scope}/{key}"
