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


def _words(values: object) -> dict[str, int] | None:
    """A device's name → 32-bit word map, keeping only what is one (the report came from a device)."""
    if not isinstance(values, dict):
        return None
    return {str(k)[:32]: v for k, v in list(values.items())[:64] if type(v) is int and 0 <= v < 2**32}


def crash_report(base: str, account_sid: str, row, detail: bool = False) -> dict:
    """A CrashReport row (store/crashes.py); with detail, its registers, fault status and document."""
    found = {"sid": row.sid, "account_sid": account_sid, "device_sid": row.device.sid,
             "app_sid": row.app.sid if row.app is not None else None, "manifest_hash": row.manifest_hash,
             "group_sid": row.group.sid if row.group is not None else None,
             "signature": row.group.signature if row.group is not None else None, "sealed": row.sealed,
             "fault": row.fault, "frames": json.loads(row.frames),
             "date_created": iso(row.date_created, milliseconds=True), "url": f"{base}/v1/Crashes/{row.sid}"}
    if detail:
        document = json.loads(row.report)
        readable = not row.sealed and "unreadable" not in document
        found.update(registers=_words(document.get("registers")) if readable else None,
                     fault_status=_words(document.get("fault_status")) if readable else None,
                     report=document if readable else None,
                     sealed_report=document.get("report") if not readable and isinstance(
                         document.get("report"), str) else None)
    return found


def crash_group(base: str, account_sid: str, row, versions: list, devices: list) -> dict:
    """A CrashGroup row with its counts per app version ((app SID, manifest hash, count)) and per device."""
    return {"sid": row.sid, "account_sid": account_sid, "signature": row.signature,
            "fault_type": row.fault_type, "functions": json.loads(row.functions), "count": row.count,
            "date_first": iso(row.date_first, milliseconds=True),
            "date_last": iso(row.date_last, milliseconds=True),
            "versions": [{"app_sid": sid, "manifest_hash": manifest_hash or None, "count": count}
                         for sid, manifest_hash, count in versions],
            "devices": [{"device_sid": sid, "count": count} for sid, count in devices],
            "url": f"{base}/v1/CrashGroups/{row.sid}"}


def deployment(base: str, account_sid: str, row, progress) -> dict:
    """A Deployment row with its progress (store/deployments.py `progress`)."""
    health = progress.health
    return {"sid": row.sid, "account_sid": account_sid, "app_sid": row.app.sid, "status": row.status,
            "halt_reason": row.halt_reason, "stage": row.stage, "stages": progress.stages,
            "halt_on_crash_rate": row.halt_on_crash_rate, "soak_seconds": row.soak_s,
            "politeness_seconds": row.politeness_s, "devices": progress.states, "devices_ran": health.ran,
            "devices_crashed": health.crashed, "crash_rate": round(health.crash_rate, 6),
            "date_created": iso(row.date_created), "date_updated": iso(row.date_updated),
            "url": f"{base}/v1/Deployments/{row.sid}"}


def deployment_device(row, previous_app_sid: str | None) -> dict:
    """One device of a deployment (a DeploymentDevice row)."""
    return {"device_sid": row.device.sid, "stage": row.stage, "state": row.state,
            "previous_app_sid": previous_app_sid,
            "date_targeted": iso(row.date_targeted) if row.date_targeted else None,
            "date_updated": iso(row.date_updated) if row.date_updated else None}
