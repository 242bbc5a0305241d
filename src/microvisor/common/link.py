"""The device link's MQTT topics and message schemas, shared by the kernel and the service's workers.

Every topic lives under ``mv/<device_sid>/``; a device's certificate (CN = its SID) may publish only
under ``up/`` and read only under ``down/`` of its own subtree. Payloads are UTF-8 JSON objects,
except chunks, which are the layer's raw bytes.

Up (device → service), all QoS 1:

- ``up/hello`` — sent on every connect: ``{"boot": str (random per kernel start), "kernel":
  {"version_string", "version_number", …} | null, "app": manifest hash hex | null,
  "wake_reason": name, "no_application": reason | null, "network_reasons": int,
  "staging_outcome": {"result": "applied"|"discarded", "kind", "manifest_hash"?, "reason"?} | null}``
- ``up/logs`` — ``{"boot": str, "first": int (sequence number of lines[0]), "lines": [str],
  "dropped": int (lines lost to the full buffer before lines[0])}``; the service answers ``ack``.
- ``up/crash`` — ``{"id": str, "report": base64 of the stored report}``; answered by ``ack``.
- ``up/update`` — ``{"manifest_hash": hex, "state": "downloading"|"downloaded"|"failed", "done": int,
  "total": int (chunks), "error_code": int, "message": str}``
- ``up/fetch`` — ``{"layer": hex, "chunks": [int]}``: send these chunks of this layer.
- ``up/ack`` — ``{"command": int}``: a command was carried out.
- ``up/status`` — ``{"online": false}``, the connection's last will.

Down (service → device), all QoS 1:

- ``down/time`` — ``{"unix_us": int}``
- ``down/desired`` — ``{"logging": bool, "app": null | {"sid", "manifest_hash", "manifest": base64
  OpaqueManifest, "layers": [{"hash": hex, "size": int, "chunk_size": int, "chunks": [sha256 hex]}]}}``
- ``down/command`` — ``{"id": int, "kind": "restart-app"|"restart-device"}``
- ``down/ack`` — ``{"logs": {"boot": str, "upto": int}}`` or ``{"crash": str}``
- ``down/chunk/<layer hex>/<index>`` — the chunk's bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

ROOT = "mv"
SERVICE_IDENTITY = "microvisor-service"  # CN of the service's own client certificate
SHARE_GROUP = "microvisor"  # the shared-subscription group of the service's workers

# Up
HELLO, LOGS, CRASH, UPDATE, FETCH = "hello", "logs", "crash", "update", "fetch"
ACK_UP, STATUS = "ack", "status"
# Down
TIME, DESIRED, COMMAND, ACK_DOWN, CHUNK = "time", "desired", "command", "ack", "chunk"

CHUNK_SIZE = 4096  # bytes per chunk the service offers (a QSPI sector: chunks never share one)
MAX_LOG_BATCH = 100

# update_error_code values a device reports.
ERROR_DOWNLOAD = 1  # a layer could not be fetched or did not match its hash
ERROR_VERIFY = 2  # the manifest is not signed by keys the device trusts, or cannot be read
ERROR_TOO_LARGE = 3  # the update does not fit the staging area
ERROR_ROM_REJECTED = 4  # the boot ROM discarded the staged update


class LinkMessageError(Exception):
    """A link message that cannot be read; the message says why."""


def up(device_sid: str, kind: str) -> str:
    return f"{ROOT}/{device_sid}/up/{kind}"


def down(device_sid: str, kind: str) -> str:
    return f"{ROOT}/{device_sid}/down/{kind}"


def chunk_topic(device_sid: str, layer: str, index: int) -> str:
    return f"{ROOT}/{device_sid}/down/{CHUNK}/{layer}/{index}"


def device_filter(device_sid: str) -> str:
    """What a device subscribes to."""
    return f"{ROOT}/{device_sid}/down/#"


def service_filter(group: str = SHARE_GROUP) -> str:
    """What the service's workers subscribe to, sharing the load within `group`."""
    return f"$share/{group}/{ROOT}/+/up/#"


@dataclass(frozen=True)
class Topic:
    """A parsed link topic: whose, which direction, what kind, and the rest (chunk layer/index)."""

    device_sid: str
    direction: str
    kind: str
    rest: tuple[str, ...] = ()


def parse_topic(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != ROOT or parts[2] not in ("up", "down"):
        raise LinkMessageError(f"{topic!r} is not a link topic")
    return Topic(parts[1], parts[2], parts[3], tuple(parts[4:]))


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), sort_keys=True).encode()


def decode(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LinkMessageError(f"a link message is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise LinkMessageError("a link message is not a JSON object")
    return value


def chunk_hashes(data: bytes, chunk_size: int = CHUNK_SIZE) -> list[str]:
    """SHA-256 (hex) of each chunk of a layer."""
    return [hashlib.sha256(data[i : i + chunk_size]).hexdigest()
            for i in range(0, max(len(data), 1), chunk_size)]


def parse_address(text: str, default_port: int = 8883) -> tuple[str, int]:
    """A broker address "host:port" (or "host", or "mqtts://host:port") as (host, port)."""
    text = text.strip()
    if "://" in text:
        text = text.split("://", 1)[1].rstrip("/")
    host, _, port = text.rpartition(":") if text.count(":") == 1 or text.startswith("[") else ("", "", "")
    if not host:
        host, port = text, ""
    host = host.strip("[]")
    try:
        number = int(port) if port else default_port
    except ValueError:
        raise LinkMessageError(f"{text!r} is not a broker address (host:port)") from None
    if not host or not 0 < number < 65536:
        raise LinkMessageError(f"{text!r} is not a broker address (host:port)")
    return host, number
