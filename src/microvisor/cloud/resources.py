"""Stored rows as API resources (plain dicts in the v1 document's shape), with absolute URLs."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from .clock import iso, utc_now
from ..common.sids import device_sid
from .models import (
    App,
    Config,
    Device,
    DeviceDebugMessage,
    DeviceEvent,
    DeviceLog,
    FactoryCard,
    FactoryCertifiedChip,
    FactoryRejection,
    FactoryResult,
    Secret,
    SigningKey,
)
from .store.devices import logging_active

HASH_ALGORITHM = "sha256"


def api_hash(manifest_hash: str | None) -> str | None:
    """A manifest hash as the API writes it: `hash_algorithm:hash_value`."""
    return None if manifest_hash is None else f"{HASH_ALGORITHM}:{manifest_hash}"


def parse_api_hash(text: str) -> str:
    """The hex manifest hash from `sha256:<hex>` or bare hex."""
    return text.split(":", 1)[1] if text.startswith(f"{HASH_ALGORITHM}:") else text


def app(base: str, account_sid: str, row: App) -> dict:
    url = f"{base}/v1/Apps/{row.sid}"
    return {"sid": row.sid, "account_sid": account_sid, "hash": api_hash(row.manifest_hash),
            "unique_name": row.unique_name, "date_created": iso(row.date_created),
            "date_updated": iso(row.date_updated), "url": url,
            "links": {"app_manifests": f"{url}/Manifest", "app_bundle": f"{url}/Bundle"}}


def app_manifest(base: str, row: App) -> dict:
    return {"app_sid": row.sid, "hash": api_hash(row.manifest_hash),
            "encoded_bytes": base64.b64encode(row.manifest).decode(),
            "url": f"{base}/v1/Apps/{row.sid}/Manifest"}


def signing_key(base: str, account_sid: str, row: SigningKey) -> dict:
    return {"sid": row.sid, "account_sid": account_sid, "signer_id": row.signer_id,
            "public_key": row.public_key, "friendly_name": row.friendly_name,
            "date_created": iso(row.date_created), "url": f"{base}/v1/SigningKeys/{row.sid}"}


def device(base: str, account_sid: str, row: Device, reported_sid: str | None) -> dict:
    url = f"{base}/v1/Devices/{row.sid}"
    target = row.target_app
    active = logging_active(row, utc_now())
    return {
        "sid": row.sid, "unique_name": row.unique_name, "account_sid": account_sid,
        "app": {"target_sid": target.sid if target else None,
                "target_hash": api_hash(target.manifest_hash) if target else None,
                "date_targeted": iso(row.date_targeted), "update_status": row.update_status,
                "update_error_code": row.update_error_code, "reported_sid": reported_sid,
                "date_reported": iso(row.date_reported)},
        "logging": {"enabled": active, "date_expires": iso(row.logging_expires) if active else None},
        "connection": {"connected": row.connected, "date_changed": iso(row.date_connection_changed)},
        "date_created": iso(row.date_created), "date_updated": iso(row.date_updated), "url": url,
        "links": {"device_configs": f"{url}/Configs", "device_secrets": f"{url}/Secrets",
                  "device_logs": f"{url}/Logs", "device_events": f"{url}/Events"},
    }


def _variable_url(base: str, collection: str, key: str, device: Device | None) -> str:
    parent = f"{base}/v1" if device is None else f"{base}/v1/Devices/{device.sid}"
    return f"{parent}/{collection}/{quote(key, safe='')}"


def config(base: str, row: Config, device: Device | None = None) -> dict:
    found = {"key": row.key, "value": row.value, "date_updated": iso(row.date_updated),
             "url": _variable_url(base, "Configs", row.key, device)}
    return found if device is None else {"device_sid": device.sid, **found}


def secret(base: str, row: Secret, device: Device | None = None) -> dict:
    found = {"key": row.key, "date_rotated": iso(row.date_rotated),
             "url": _variable_url(base, "Secrets", row.key, device)}
    return found if device is None else {"device_sid": device.sid, **found}


def log_line(device_sid: str, row: DeviceLog) -> dict:
    return {"device_sid": device_sid, "sequence": row.id,
            "date_created": iso(row.date_created, milliseconds=True), "text": row.text}


def stream_message(device_sid: str, row: DeviceDebugMessage) -> dict:
    """A message of a device's opaque stream (a remote-debugging message, a piece of console output) as
    the stream carries it: the bytes in base64, as they came."""
    return {"device_sid": device_sid, "sequence": row.id, "payload": base64.b64encode(row.payload).decode(),
            "date_created": iso(row.date_created, milliseconds=True)}


def event(device_sid: str, row: DeviceEvent) -> dict:
    return {"device_sid": device_sid, "sequence": row.id, "type": row.kind,
            "date_created": iso(row.date_created, milliseconds=True), "details": json.loads(row.details)}


def factory_card(base: str, account_sid: str, row: FactoryCard) -> dict:
    return {"sid": row.sid, "account_sid": account_sid, "public_key": row.public_key,
            "licences": row.licences, "licences_used": row.licences_used,
            "licences_left": max(row.licences - row.licences_used, 0), "revoked": row.revoked,
            "date_created": iso(row.date_created), "url": f"{base}/v1/Factory/Cards/{row.sid}"}


def factory_certified_chip(base: str, row: FactoryCertifiedChip) -> dict:
    return {"device_sid": row.device_sid, "chip_uid": row.chip_uid, "card_sid": row.card.sid,
            "station": row.station, "date_created": iso(row.date_created),
            "url": f"{base}/v1/Factory/Certificates/{row.device_sid}"}


def factory_result(row: FactoryResult) -> dict:
    return {"sequence": row.id, "chip_uid": row.chip_uid,
            "device_sid": device_sid(bytes.fromhex(row.chip_uid)), "station": row.station,
            "passed": row.passed, "step": row.step, "reason": row.reason,
            "date_created": iso(row.date_created, milliseconds=True)}


def factory_rejection(row: FactoryRejection) -> dict:
    return {"sequence": row.id, "card_sid": row.card_sid, "chip_uid": row.chip_uid, "station": row.station,
            "status": row.status, "reason": row.reason,
            "date_created": iso(row.date_created, milliseconds=True)}
