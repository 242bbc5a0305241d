"""The service's end of devices' channels: one relay per link worker serves every channel type.

The worker that answers a device's hello names its relay in the ``time`` answer, and the device sends
that connection's channel messages to ``mv/<sid>/up/channel/<relay id>`` (common/channel_link.py), so
each channel lives here, in one process, from open to close. Per type:
- HTTP: the request is performed by cloud/http_relay.py on a small pool of threads (never on the worker's
  thread, which other devices' messages wait on), bounded by the channel's receive buffer;
- configuration fetch: the items from the account's and the device's configs and secrets;
- MQTT: a session with the customer's broker (cloud/mqtt_bridge.py);
- opaque bytes, endpoint "console": what the device writes is kept for the device's console stream;
  what a person types (``console_input``, from any server process over the broker) goes down within the
  window the device's receive buffer leaves, the rest waits here, up to MAX_PENDING bytes.
Messages from the relay to the device carry at most the window the device announced, less what it has
not yet given back as credit.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..common import channel_link as wire
from ..common.link import LinkMessageError
from .destinations import ALLOW_KEY
from .http_relay import HttpRelay

log = logging.getLogger(__name__)

HTTP_THREADS = 8
MAX_PENDING = 64 * 1024  # console bytes waiting for the device's window
MAX_CHANNELS_PER_DEVICE = 4


class Bridge(Protocol):
    """A channel type served by a session of its own (MQTT)."""

    def request(self, message: dict[str, Any]) -> None: ...
    def credit(self) -> None: ...
    def close(self) -> None: ...


class RelayGateway(Protocol):
    """What the relay needs of the store (cloud/link_gateway.py)."""

    def account_config(self, device_sid: str, key: str) -> str | None: ...
    def config_items(self, device_sid: str, items: list[dict[str, str]]) -> list[tuple[str, bytes]]: ...
    def console_output(self, device_sid: str, data: bytes) -> None: ...


@dataclass
class RelayChannel:
    sid: str
    number: int
    type: str
    endpoint: str
    announced: int  # the receive buffer's size, as the device announced it at open
    window: int = 0  # bytes the device's receive buffer still has room for
    up_seq: int = 0
    down_seq: int = 0
    pending: deque[bytes] = field(default_factory=deque)
    pending_bytes: int = 0
    busy: bool = False  # a request (HTTP, config) is being served
    bridge: Bridge | None = None


class ChannelRelay:
    def __init__(self, gateway: RelayGateway, publish: Callable[[str, dict[str, Any]], None],
                 http: HttpRelay,
                 bridge_factory: Callable[[RelayChannel, ChannelRelay], Bridge] | None = None):
        self.id = uuid.uuid4().hex[:16]
        self.gateway = gateway
        self.publish = publish  # (device sid, message) -> down/channel
        self.http = http
        self.bridge_factory = bridge_factory
        self._lock = threading.RLock()
        self._channels: dict[tuple[str, int], RelayChannel] = {}
        self._requests: dict[str, int] = {}  # requests waiting or running on the pool, per device
        self._pool = ThreadPoolExecutor(HTTP_THREADS, thread_name_prefix="channel-http")

    def close(self) -> None:
        with self._lock:
            channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            if channel.bridge is not None:
                channel.bridge.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.http.close()

    # --- from the device (the worker's thread) ------------------------------------------------
    def handle(self, sid: str, message: dict[str, Any]) -> None:
        op, number = wire.header(message)
        if op == "open":
            self._open(sid, number, message)
            return
        with self._lock:
            channel = self._channels.get((sid, number))
        if channel is None:
            return  # closed meanwhile (or never opened here)
        if op == "close":
            self._forget(channel)
        elif op == "credit":
            self.credit(channel, wire.number(message, "bytes", 0, wire.MAX_WINDOW))
        elif op == "data" and channel.type == "opaque":
            self._data(channel, message)
        elif op == "http" and channel.type == "http":
            self._once(channel, lambda: self._http(channel, message))
        elif op == "config" and channel.type == "config":
            self._once(channel, lambda: self._config(channel, message))
        elif op == "mqtt" and channel.bridge is not None:
            channel.bridge.request(message)
        else:
            raise LinkMessageError(f"a {channel.type} channel got a {op!r} message")

    def device_gone(self, sid: str) -> None:
        """The device connected again or went offline: its channels are closed on its side."""
        with self._lock:
            gone = [channel for key, channel in self._channels.items() if key[0] == sid]
        for channel in gone:
            self._forget(channel)

    def _open(self, sid: str, number: int, message: dict[str, Any]) -> None:
        kind = wire.text(message, "type", 16)
        endpoint = wire.text(message, "endpoint", 64)
        window = wire.number(message, "window", 512, wire.MAX_WINDOW)
        if kind not in wire.TYPES or (kind == "opaque" and endpoint not in wire.OPAQUE_ENDPOINTS):
            self.publish(sid, {"op": "closed", "ch": number, "reason": "reset"})
            return
        old = None
        with self._lock:
            old = self._channels.pop((sid, number), None)
            if sum(1 for key in self._channels if key[0] == sid) >= MAX_CHANNELS_PER_DEVICE:
                self.publish(sid, {"op": "closed", "ch": number, "reason": "reset"})
                return
            channel = RelayChannel(sid, number, kind, endpoint, window, window)
            self._channels[(sid, number)] = channel
        if old is not None and old.bridge is not None:
            old.bridge.close()
        if kind == "mqtt":
            if self.bridge_factory is None:
                self.close_channel(channel, "reset")
                return
            channel.bridge = self.bridge_factory(channel, self)
        log.info("device %s opened channel %d (%s)", sid, number, kind)

    def _forget(self, channel: RelayChannel) -> None:
        with self._lock:
            if self._channels.get((channel.sid, channel.number)) is channel:
                del self._channels[(channel.sid, channel.number)]
        if channel.bridge is not None:
            channel.bridge.close()

    def close_channel(self, channel: RelayChannel, reason: str) -> None:
        """The service ends a channel: the device is told (CHANNELCLOSEDBYSERVER or ...RESETBYSERVER)."""
        self._forget(channel)
        self.publish(channel.sid, {"op": "closed", "ch": channel.number, "reason": reason})

    # --- flow control ---------------------------------------------------------------------------
    def send(self, channel: RelayChannel, message: dict[str, Any], size: int) -> bool:
        """Send a message that takes `size` bytes of the device's window; False (nothing sent) when the
        window has not that much room now."""
        with self._lock:
            if size > channel.window:
                return False
            channel.window -= size
        self.publish(channel.sid, {**message, "ch": channel.number})
        return True

    def credit(self, channel: RelayChannel, freed: int) -> None:
        with self._lock:  # never more than the device announced: a device cannot widen its own window
            channel.window = min(channel.window + freed, channel.announced)
        self._flush(channel)
        if channel.bridge is not None:
            channel.bridge.credit()

    def _flush(self, channel: RelayChannel) -> None:
        with self._lock:
            while channel.pending and channel.window > 0:
                piece = channel.pending.popleft()
                cut = min(channel.window, wire.MAX_DATA)
                taken, rest = piece[:cut], piece[cut:]
                if rest:
                    channel.pending.appendleft(rest)
                channel.pending_bytes -= len(taken)
                channel.window -= len(taken)
                self.publish(channel.sid, {"op": "data", "ch": channel.number, "seq": channel.down_seq,
                                           "data": wire.encode_bytes(taken)})
                channel.down_seq += 1

    # --- opaque channels ----------------------------------------------------------------------
    def _data(self, channel: RelayChannel, message: dict[str, Any]) -> None:
        seq = wire.number(message, "seq")
        data = wire.decode_bytes(message, "data", wire.MAX_DATA)
        if seq != channel.up_seq:
            self.close_channel(channel, "reset")
            raise LinkMessageError(f"channel data {seq} came where {channel.up_seq} was due")
        channel.up_seq += 1
        try:
            self.gateway.console_output(channel.sid, data)
        finally:  # stored or not (the failure is logged), the device's send buffer must not stall
            self.publish(channel.sid, {"op": "credit", "ch": channel.number, "bytes": len(data)})

    def console_input(self, sid: str, data: bytes) -> bool:
        """Bytes typed at a device's console; False when no console channel of it is open here (or its
        queue is full: they are dropped)."""
        with self._lock:
            channel = next((c for (s, _), c in self._channels.items()
                            if s == sid and c.endpoint == "console"), None)
            if channel is None or channel.pending_bytes + len(data) > MAX_PENDING:
                if channel is not None:
                    log.warning("console input for %s dropped: %d bytes already wait for the device",
                                sid, channel.pending_bytes)
                return False
            channel.pending.append(data)
            channel.pending_bytes += len(data)
        self._flush(channel)
        return True

    # --- requests answered once ---------------------------------------------------------------
    def _once(self, channel: RelayChannel, work: Callable[[], None]) -> None:
        """Serve a channel's one request on the pool; a device has at most MAX_CHANNELS_PER_DEVICE
        requests waiting or running at once, however fast it opens and closes channels."""
        with self._lock:
            if channel.busy:
                raise LinkMessageError("a second request on a channel that answers one")
            if self._requests.get(channel.sid, 0) >= MAX_CHANNELS_PER_DEVICE:
                self.close_channel(channel, "reset")
                raise LinkMessageError(f"device {channel.sid} has {MAX_CHANNELS_PER_DEVICE} requests "
                                       "in progress already")
            channel.busy = True
            self._requests[channel.sid] = self._requests.get(channel.sid, 0) + 1
        self._pool.submit(self._guarded, work, channel)

    def _guarded(self, work: Callable[[], None], channel: RelayChannel) -> None:
        try:
            work()
        except LinkMessageError as exc:  # a malformed request from the device: one line, no traceback
            log.warning("channel %d of %s: %s", channel.number, channel.sid, exc)
            self.close_channel(channel, "reset")
        except Exception:  # a request must never take the pool down
            log.exception("channel %d of %s failed", channel.number, channel.sid)
            self.close_channel(channel, "reset")
        finally:
            with self._lock:
                left = self._requests.pop(channel.sid, 1) - 1
                if left:
                    self._requests[channel.sid] = left

    def _http(self, channel: RelayChannel, message: dict[str, Any]) -> None:
        request = {"method": wire.text(message, "method", 16), "url": wire.text(message, "url", 8192),
                   "headers": wire.strings(message, "headers", wire.MAX_HTTP_HEADERS, 8192),
                   "body": wire.decode_bytes(message, "body", wire.MAX_WINDOW),
                   "timeout_ms": message.get("timeout_ms")}
        allow_list = self.gateway.account_config(channel.sid, ALLOW_KEY)
        answer = self.http.perform(request, channel.window, allow_list)
        log.info("device %s: HTTP %s %s -> %s %d (%d bytes)", channel.sid, request["method"],
                 request["url"][:80], answer.result, answer.status, len(answer.body))
        self.publish(channel.sid, {"op": "http", "ch": channel.number, "result": answer.result,
                                   "status": answer.status, "headers": list(answer.headers),
                                   "body": wire.encode_bytes(answer.body)})

    def _config(self, channel: RelayChannel, message: dict[str, Any]) -> None:
        items = message.get("items")
        if not isinstance(items, list) or not 0 < len(items) <= wire.MAX_CONFIG_ITEMS or not all(
                isinstance(item, dict) and item.get("scope") in ("account", "device")
                and item.get("store") in ("config", "secret") and isinstance(item.get("key"), str)
                for item in items):
            raise LinkMessageError("a configuration request is malformed")
        found = self.gateway.config_items(channel.sid, items)
        size = sum(len(value) + 8 for _, value in found)
        result = "OK" if size <= channel.window else "RESPONSETOOLARGE"
        self.publish(channel.sid, {"op": "config", "ch": channel.number, "result": result, "items": [
            {"result": name, "value": wire.encode_bytes(value)} for name, value in found]
            if result == "OK" else []})
