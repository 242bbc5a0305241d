"""The application's channels on the device link: the messages the kernel and the service's relay exchange.

A channel is opened by the kernel (kernel/channels.py) and served by one relay of the service
(cloud/channel_relay.py): the link worker that answered the device's hello names itself in its ``time``
answer (``"relay": id``), and the kernel sends every channel message of that connection to
``mv/<sid>/up/channel/<relay>``, which only that worker subscribes to (its other traffic is shared
between workers). So a channel's state (an MQTT session, a console's window) lives in one process. A
link that goes down closes every channel (MV_CLOSUREREASON_NETWORKDISCONNECTED); a new connection may
name another relay, and the worker that hears its hello tells every relay (common/link.py
`CHANNELS_GONE`) to forget the last connection's channels. Down, everything comes on
``mv/<sid>/down/channel``.

Every message is a JSON object with ``op`` and ``ch`` (the channel's number, chosen by the kernel,
unique within a boot). Bytes travel base64-encoded.

Up (device → relay):
- ``open`` {type: "opaque"|"mqtt"|"http"|"config", endpoint: str, window: int (receive buffer bytes)}
- ``close`` {}
- ``data`` {seq: int, data: b64} — opaque bytes, numbered from 0 per channel
- ``credit`` {bytes: int} — the application consumed this many bytes the relay sent (opaque, MQTT)
- ``http`` {method, url, headers: [str], body: b64, timeout_ms}
- ``config`` {items: [{scope: "account"|"device", store: "config"|"secret", key: str}]}
- ``mqtt`` {request: "connect"|"subscribe"|"unsubscribe"|"publish"|"ack"|"disconnect", …} — the
  fields of each request and response are documented in kernel/mqtt_channel.py

Down (relay → device):
- ``data`` {seq, data: b64} — at most the window the device has left (credit returns it)
- ``credit`` {bytes: int} — the relay took this many bytes of the device's data: its send buffer frees
- ``closed`` {reason: "server"|"reset"} — the relay closed the channel
- ``http`` {result: MvHttpResult name, status: int, headers: [str], body: b64}
- ``config`` {result: MvConfigFetchResult name, items: [{result: MvConfigKeyFetchResult name, value: b64}]}
- ``mqtt`` {response: "connect"|"subscribe"|"unsubscribe"|"publish"|"disconnect"|"message"|"lost", …}
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .link import LinkMessageError

CHANNEL = "channel"  # the link kind, both ways

TYPES = ("opaque", "mqtt", "http", "config")  # by MvChannelType value
OPAQUE_ENDPOINTS = ("console",)  # the opaque channels the service serves

MAX_WINDOW = 64 * 1024  # bytes a receive buffer may announce
MAX_DATA = 16 * 1024  # bytes of one data message
MAX_HTTP_HEADERS = 32
MAX_CONFIG_ITEMS = 16
MAX_MQTT_ELEMENTS = 8  # topics per (un)subscribe, certificates per chain
MAX_MESSAGE = 96 * 1024  # bytes of any channel message as JSON


def encode_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decode_bytes(message: dict[str, Any], field: str, limit: int) -> bytes:
    """A base64 field of a channel message, at most `limit` bytes, or LinkMessageError."""
    text = message.get(field, "")
    if not isinstance(text, str) or len(text) > (limit + 2) // 3 * 4:
        raise LinkMessageError(f"a channel message's {field} is not base64 of at most {limit} bytes")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise LinkMessageError(f"a channel message's {field} is not base64") from None


def number(message: dict[str, Any], field: str, low: int = 0, high: int = 2**32 - 1) -> int:
    """An integer field in [low, high], or LinkMessageError."""
    value = message.get(field)
    if type(value) is not int or not low <= value <= high:
        raise LinkMessageError(f"a channel message's {field} is not a number from {low} to {high}")
    return value


def text(message: dict[str, Any], field: str, limit: int) -> str:
    """A string field of at most `limit` characters, or LinkMessageError."""
    value = message.get(field)
    if not isinstance(value, str) or len(value) > limit:
        raise LinkMessageError(f"a channel message's {field} is not a string of at most {limit} characters")
    return value


def strings(message: dict[str, Any], field: str, count: int, limit: int) -> list[str]:
    """A list of at most `count` strings of at most `limit` characters each, or LinkMessageError."""
    value = message.get(field, [])
    if not isinstance(value, list) or len(value) > count or \
            not all(isinstance(item, str) and len(item) <= limit for item in value):
        raise LinkMessageError(f"a channel message's {field} is not a list of at most {count} strings")
    return value


def is_relay_id(value: str) -> bool:
    """A relay's id is 1 to 32 ASCII letters and digits (it is a topic level)."""
    return 0 < len(value) <= 32 and value.isascii() and value.isalnum()


def header(message: dict[str, Any]) -> tuple[str, int]:
    """(op, ch) of a channel message, checked."""
    return text(message, "op", 16), number(message, "ch", 1)
