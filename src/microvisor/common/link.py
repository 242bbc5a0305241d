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
  "dropped": int (lines lost to the full buffer just before lines[0]: numbers first - dropped …
  first - 1)}``; at most MAX_LOG_BATCH lines; the service answers ``ack``. Lines are numbered per boot
  as they are logged, so (boot, number) names a line and a batch sent again is stored once.
- ``up/crash`` — ``{"id": str, "report": base64 of the stored report}``; answered by ``ack``.
- ``up/update`` — ``{"manifest_hash": hex, "state": "downloading"|"downloaded"|"failed", "done": int,
  "total": int (chunks), "error_code": int, "message": str}``
- ``up/fetch`` — ``{"layer": hex, "chunks": [int]}``: send these chunks of this layer.
- ``up/ack`` — ``{"command": int}``: a command was carried out.
- ``up/status`` — ``{"online": false}``, the connection's last will.
- ``up/debug`` — raw bytes (not JSON), at most MAX_DEBUG_MESSAGE: a remote-debugging message from the
  device, encrypted to the developer's debug key; the service keeps it for the developer's stream.
- ``up/channel/<relay>`` — an application channel's message to the relay that serves this connection
  (common/channel_link.py); ``down/channel`` is the other way.

Down (service → device), all QoS 1:

- ``down/time`` — ``{"unix_us": int}``
- ``down/desired`` — ``{"logging": bool, "app": null | {"sid", "manifest_hash", "manifest": base64
  OpaqueManifest, "layers": [{"hash": hex, "size": int, "chunk_size": int, "chunks": [sha256 hex]}],
  "politeness_s"?: int}}``: politeness_s, set by a deployment, caps the app's maximum politeness time
  (0: restart into the app as soon as it is staged)
- ``down/command`` — ``{"id": int, "kind": "restart-app"|"restart-device"}``
- ``down/ack`` — ``{"logs": {"boot": str, "upto": int}}`` or ``{"crash": str}``
- ``down/chunk/<layer hex>/<index>`` — the chunk's bytes.
- ``down/slow-down`` — ``{"layer": hex, "chunks": [int], "retry_after_ms": int, "reason": str}``: these
  chunks of a fetch were not sent because the device asked for more than its limit
  (cloud/fetch_budget.py); ask for them again after retry_after_ms.
- ``down/debug`` — raw bytes (not JSON), at most MAX_DEBUG_MESSAGE: a remote-debugging message from the
  developer, signed by the debug key; the service relays it as it came.

A device may fetch only the layers of the app the service targets at it; other fetches are ignored.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import socket
from dataclasses import dataclass
from typing import Any

ROOT = "mv"
SERVICE_IDENTITY = "microvisor-service"  # CN of the service's own client certificate
SHARE_GROUP = "microvisor"  # the shared-subscription group of the service's workers
SERVICE = "service"  # third topic level of messages between server processes (devices never see them)

# Up
HELLO, LOGS, CRASH, UPDATE, FETCH = "hello", "logs", "crash", "update", "fetch"
ACK_UP, STATUS = "ack", "status"
# Down
TIME, DESIRED, COMMAND, ACK_DOWN, CHUNK = "time", "desired", "command", "ack", "chunk"
SLOW_DOWN = "slow-down"
# Both ways: a remote-debugging message, opaque to the service (signed by the developer's debug key
# on the way down, encrypted to it on the way up: common/debug_channel.py).
DEBUG = "debug"
MAX_DEBUG_MESSAGE = 64 * 1024  # bytes of one debug message, either way

CHUNK_SIZE = 4096  # bytes per chunk the service offers (a QSPI sector: chunks never share one)
MAX_LOG_BATCH = 100
MAX_BOOT_ID = 32  # characters of a boot id
MAX_SEQUENCE = 2**53  # a log line's number within a boot

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


SHARED_KINDS = (HELLO, LOGS, CRASH, UPDATE, FETCH, ACK_UP, STATUS, DEBUG)


def service_filters(group: str = SHARE_GROUP) -> list[str]:
    """What the service's workers subscribe to, sharing the load within `group`: every up kind by name,
    so that a channel message to one worker's relay (``up/channel/<relay>``) reaches only that worker."""
    return [f"$share/{group}/{ROOT}/+/up/{kind}" for kind in SHARED_KINDS]


CONSOLE_INPUT = "console"  # bytes typed at a device's console, for the relay serving its console channel
CHANNELS_GONE = "gone"  # {"relay": id}: the device connected again or went offline; its channels ended


def relay_filters(relay: str) -> list[str]:
    """What one worker's channel relay subscribes to, unshared: the channel messages addressed to it and
    what any server process tells every relay about a device (common/channel_link.py)."""
    return [f"{ROOT}/+/up/channel/{relay}", f"{ROOT}/+/{SERVICE}/+"]


def service_topic(device_sid: str, kind: str) -> str:
    """A message between server processes about a device (devices can neither send nor read these)."""
    return f"{ROOT}/{device_sid}/{SERVICE}/{kind}"


@dataclass(frozen=True)
class Topic:
    """A parsed link topic: whose, which direction, what kind, and the rest (chunk layer/index)."""

    device_sid: str
    direction: str
    kind: str
    rest: tuple[str, ...] = ()


def parse_topic(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != ROOT or parts[2] not in ("up", "down", SERVICE):
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


@dataclass(frozen=True)
class LogBatch:
    """A checked ``up/logs`` message."""

    boot: str
    first: int
    lines: list[str]
    dropped: int


def log_batch(message: dict[str, Any]) -> LogBatch:
    """The ``up/logs`` message checked field by field, or LinkMessageError saying what is wrong."""
    boot, first, lines, dropped = (message.get(k) for k in ("boot", "first", "lines", "dropped"))
    if not isinstance(boot, str) or not 0 < len(boot) <= MAX_BOOT_ID or not boot.isascii() \
            or not boot.isalnum():
        raise LinkMessageError("a log batch's boot is not a short alphanumeric id")
    if type(first) is not int or not 0 <= first <= MAX_SEQUENCE:
        raise LinkMessageError("a log batch's first sequence number is not a number in range")
    if not isinstance(lines, list) or not 0 < len(lines) <= MAX_LOG_BATCH \
            or not all(isinstance(line, str) for line in lines):
        raise LinkMessageError(f"a log batch's lines are not a list of 1 to {MAX_LOG_BATCH} strings")
    dropped = 0 if dropped is None else dropped
    if type(dropped) is not int or not 0 <= dropped <= first:
        raise LinkMessageError("a log batch's dropped count is not a number in range")
    return LogBatch(boot, first, lines, dropped)


def chunk_hashes(data: bytes, chunk_size: int = CHUNK_SIZE) -> list[str]:
    """SHA-256 (hex) of each chunk of a layer."""
    return [hashlib.sha256(data[i : i + chunk_size]).hexdigest()
            for i in range(0, max(len(data), 1), chunk_size)]


# a host name (or IPv4 address): dot-separated labels of ASCII letters, digits, "-" and "_"
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?", re.ASCII)


def no_delay(client: Any) -> None:
    """Send small messages at once on a connected paho client's socket (no Nagle): a link message
    is one small write, and waiting for the peer's delayed ACK cost a debugger ~40 ms each way."""
    sock = client.socket()
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def parse_address(text: str, default_port: int = 8883) -> tuple[str, int]:
    """A broker address as (host, port): "host:port", "host", "[IPv6]:port", a bare IPv6 address, or
    any of these after "mqtts://" or "mqtt://". The host is an IP address or an ASCII host name; the
    port 1-65535 (default_port when left out)."""
    def refused() -> LinkMessageError:
        return LinkMessageError(f"{text!r} is not a broker address (host:port)")

    rest = text.strip()
    scheme, separator, after = rest.partition("://")
    if separator:
        if scheme.lower() not in ("mqtt", "mqtts"):
            raise refused()
        rest = after.rstrip("/")
    if rest.startswith("["):  # [IPv6] or [IPv6]:port
        host, bracket, tail = rest[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise refused()
        port, ipv6 = tail[1:] if tail else None, True
    elif rest.count(":") > 1:  # a bare IPv6 address, which cannot carry a port
        host, port, ipv6 = rest, None, True
    else:
        host, colon, port = rest.partition(":")
        port, ipv6 = (port if colon else None), False
    if ipv6:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise refused() from None
    elif not _HOST_NAME.fullmatch(host) or len(host) > 253:
        raise refused()
    if port is None:
        return host, default_port
    if not re.fullmatch(r"[0-9]{1,5}", port) or not 0 < int(port) < 65536:
        raise refused()
    return host, int(port)
