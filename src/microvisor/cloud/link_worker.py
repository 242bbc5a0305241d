"""A link worker: the service's MQTT 5 client, sharing device traffic with other workers, feeding the gateway.

Messages are handled one at a time on the worker's own thread (so one device's log lines are stored
in the order they came); every `poll_s` the worker also looks whether a device it talks to has a new
desired state or pending commands (changed through the REST API, possibly by another process). `send`
publishes from other threads (the REST API's debug relay).
"""

from __future__ import annotations

import base64
import binascii
import logging
import queue
import ssl
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ..common import channel_link, crash_report
from ..common import link as wire
from .broker import ClientFiles
from .channel_relay import Bridge, ChannelRelay, RelayChannel
from .destinations import Destinations
from .errors import NotFound
from .fetch_budget import MAX_FETCH_CHUNKS, FetchBudget
from .http_relay import HttpRelay
from .link_gateway import DesiredState, LinkGateway, Patch

log = logging.getLogger(__name__)

POLL_S = 1.0
LAYER_CACHE = 16  # layers kept in memory for chunk requests
PATCH_CACHE = 64  # patches (or their absence) kept in memory, by (running app's hash, layer)
PATCH_WORTH = 0.5  # a patch is offered only when it is at most this share of the layer it makes
_STOP = object()


@dataclass
class _Peer:
    """What this worker remembers of a device it talks to."""

    desired: bytes = b""  # the last desired-state message sent
    commands: set[int] = field(default_factory=set)  # commands sent, not yet acknowledged


class LinkWorker:
    def __init__(self, gateway: LinkGateway, host: str, port: int, client: ClientFiles,
                 group: str = wire.SHARE_GROUP, poll_s: float = POLL_S, chunk_size: int = wire.CHUNK_SIZE,
                 budget: FetchBudget | None = None, destinations: Destinations | None = None,
                 channel_ca: str | None = None):
        self.gateway = gateway
        self.host, self.port = host, port
        self.group = group
        self.poll_s = poll_s
        self.chunk_size = chunk_size
        self.budget = budget or FetchBudget()
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._peers: dict[str, _Peer] = {}
        self._layers: OrderedDict[str, tuple[bytes, list[str]]] = OrderedDict()
        self._patches: OrderedDict[tuple[str, str], Patch | None] = OrderedDict()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(client.ca))
        context.load_cert_chain(str(client.certificate), str(client.key))
        client_id = f"{wire.SERVICE_IDENTITY}-{uuid.uuid4().hex[:12]}"
        self._mqtt = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self._mqtt.tls_set_context(context)
        self._mqtt.username_pw_set(wire.SERVICE_IDENTITY)  # the broker checks it against the certificate
        self._mqtt.reconnect_delay_set(1, 10)
        self._mqtt.on_connect = self._on_connect
        self._mqtt.on_disconnect = self._on_disconnect
        self._mqtt.on_message = self._on_message
        destinations = destinations or Destinations()
        self.relay = ChannelRelay(gateway, self._publish_channel, HttpRelay(destinations, channel_ca),
                                  self._bridge_factory(destinations, channel_ca))

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="link-worker", daemon=True)
        self._thread.start()
        self._mqtt.connect_async(self.host, self.port, keepalive=30)
        self._mqtt.loop_start()

    def stop(self) -> None:
        self.relay.close()
        self._mqtt.disconnect()
        self._mqtt.loop_stop()
        if self._thread is not None:
            self._inbox.put(_STOP)
            self._thread.join(timeout=10)
        log.info("link worker stopped")

    # --- paho callbacks (its network thread) --------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.warning("the broker refused the link worker: %s", reason)
            return
        wire.no_delay(client)
        topics = wire.service_filters(self.group) + wire.relay_filters(self.relay.id)
        client.subscribe([(topic, 1) for topic in topics])
        self.connected.set()
        log.info("link worker connected to %s:%d", self.host, self.port)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self.connected.clear()
        log.info("link worker disconnected (%s)", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put((message.topic, bytes(message.payload)))

    # --- the worker thread --------------------------------------------------------------------
    def _run(self) -> None:
        next_poll = time.monotonic() + self.poll_s
        while True:
            try:
                item = self._inbox.get(timeout=max(next_poll - time.monotonic(), 0))
            except queue.Empty:
                item = None
            if time.monotonic() >= next_poll:  # also while messages keep coming (a chatty device's logs)
                self._poll()
                next_poll = time.monotonic() + self.poll_s
            if item is None:
                continue
            if item is _STOP:
                return
            topic, payload = item
            try:
                self._handle(topic, payload)
            except (wire.LinkMessageError, NotFound) as exc:
                log.warning("link message on %s dropped: %s", topic, exc)
            except (ValueError, TypeError, AttributeError) as exc:  # a field of the wrong type or shape
                log.warning("link message on %s dropped: malformed (%s)", topic, exc)
            except Exception:  # a worker must outlive any one bad message
                log.exception("link message on %s failed", topic)

    def _handle(self, topic: str, payload: bytes) -> None:
        """Dispatch an up message by kind: raw kinds get the payload's bytes, every other kind a checked
        JSON object."""
        where = wire.parse_topic(topic)
        sid, kind = where.device_sid, where.kind
        if where.direction == wire.SERVICE:
            if kind == wire.CONSOLE_INPUT:
                self.relay.console_input(sid, payload)
            elif kind == wire.CHANNELS_GONE and wire.decode(payload).get("relay") != self.relay.id:
                self.relay.device_gone(sid)  # (the relay that says so has forgotten them already)
            return
        if where.direction != "up":
            return
        if kind == channel_link.CHANNEL:
            if len(payload) > channel_link.MAX_MESSAGE:
                raise wire.LinkMessageError(f"a channel message of {len(payload)} bytes is too large")
            if where.rest == (self.relay.id,):
                self.relay.handle(sid, wire.decode(payload))
            return
        raw = {wire.DEBUG: self._debug}.get(kind)
        if raw is not None:
            raw(sid, payload)
            return
        handler = {wire.HELLO: self._hello, wire.LOGS: self._logs, wire.CRASH: self._crash,
                   wire.UPDATE: self._update, wire.FETCH: self._fetch, wire.ACK_UP: self._ack,
                   wire.STATUS: self._status}.get(kind)
        if handler is None:
            raise wire.LinkMessageError(f"unknown message kind {kind!r}")
        handler(sid, wire.decode(payload))

    def _debug(self, sid: str, payload: bytes) -> None:
        """Keep a remote-debugging message for the developer's stream, bytes as they came (never read)."""
        if len(payload) > wire.MAX_DEBUG_MESSAGE:
            raise wire.LinkMessageError(f"a debug message of {len(payload)} bytes is over the "
                                        f"{wire.MAX_DEBUG_MESSAGE}-byte limit")
        self.gateway.debug_message(sid, payload)

    def _hello(self, sid: str, message: dict[str, Any]) -> None:
        kernel = message.get("kernel") or {}
        self.gateway.device_connected(sid, boot=message.get("boot"), kernel=kernel.get("version_string"),
                                      wake_reason=message.get("wake_reason"),
                                      no_application=message.get("no_application"))
        app = message.get("app")
        self.gateway.app_reported(sid, app if isinstance(app, str) and app else None)
        peer = self._peers.setdefault(sid, _Peer())
        peer.desired, peer.commands = b"", set()  # a new connection: tell everything again
        self._channels_gone(sid)  # its channels closed with its last connection
        self._send_time(sid)
        self._sync(sid, peer)
        log.info("device %s connected (app %s)", sid, (app or "none")[:12])

    def _status(self, sid: str, message: dict[str, Any]) -> None:
        if message.get("online") is False:
            self.gateway.device_disconnected(sid)
            self._peers.pop(sid, None)
            self._channels_gone(sid)
            log.info("device %s disconnected", sid)

    def _logs(self, sid: str, message: dict[str, Any]) -> None:
        batch = wire.log_batch(message)
        first, lines = batch.first, batch.lines
        if batch.dropped:  # the notice takes the number of the last line lost, which never comes
            first, lines = first - 1, [f"[microvisor: {batch.dropped} log line(s) dropped: the device's "
                                       "buffer was full]", *lines]
        self.gateway.logs(sid, batch.boot, first, lines)
        self._publish(wire.down(sid, wire.ACK_DOWN),
                      {"logs": {"boot": batch.boot, "upto": batch.first + len(batch.lines) - 1}})

    def _crash(self, sid: str, message: dict[str, Any]) -> None:
        try:
            blob = base64.b64decode(str(message.get("report", "")), validate=True)
        except binascii.Error:
            raise wire.LinkMessageError("a crash report is not base64") from None
        try:
            if crash_report.is_sealed(blob):
                details: dict[str, Any] = {"sealed": True, "report": base64.b64encode(blob).decode()}
            else:
                details = crash_report.decode(blob)
        except crash_report.CrashReportError as exc:  # kept as it came, with why it cannot be read
            details = {"unreadable": str(exc), "report": base64.b64encode(blob).decode()}
        self.gateway.crashed(sid, details)
        self._publish(wire.down(sid, wire.ACK_DOWN), {"crash": message.get("id")})

    def _update(self, sid: str, message: dict[str, Any]) -> None:
        state = message.get("state")
        log.info("device %s update %s: %s (%s/%s chunks)", sid, str(message.get("manifest_hash"))[:12], state,
                 message.get("done"), message.get("total"))
        if state == "failed":
            self.gateway.update_failed(sid, int(message.get("error_code") or 0),
                                       str(message.get("message", "")))

    def _fetch(self, sid: str, message: dict[str, Any]) -> None:
        """Send the chunks asked for, if the layer is the device's to fetch and its budget allows."""
        digest, wanted = str(message.get("layer", "")), message.get("chunks")
        if not isinstance(wanted, list) or not all(type(i) is int for i in wanted):
            raise wire.LinkMessageError(f"device {sid} sent a fetch without a list of chunk numbers")
        if not self.gateway.may_fetch(sid, digest):
            raise wire.LinkMessageError(f"device {sid} asked for layer {digest[:16]}, which is not in the "
                                        "app the service targets at it")
        found = self._layer(digest)
        if found is None:
            raise wire.LinkMessageError(f"device {sid} asked for layer {digest[:16]}, which is not stored")
        data, hashes = found
        wanted = [i for i in dict.fromkeys(wanted) if 0 <= i < len(hashes)]
        sent, refused, reason, sent_bytes = [], [], "", 0
        for index in wanted:
            chunk = data[index * self.chunk_size : (index + 1) * self.chunk_size]
            if len(sent) >= MAX_FETCH_CHUNKS:
                refused, reason = wanted[len(sent):], f"at most {MAX_FETCH_CHUNKS} chunks per fetch"
                break
            if not self.budget.take(sid, len(chunk)):
                refused = wanted[len(sent):]
                reason = (f"at most {self.budget.burst / 1024:g} KiB at once, then "
                          f"{self.budget.rate / 1024:g} KiB/s per device")
                break
            self._mqtt.publish(wire.chunk_topic(sid, digest, index), chunk, qos=1)
            sent.append(index)
            sent_bytes += len(chunk)
        if sent:
            patch = any(p is not None and p.hash == digest for p in self._patches.values())
            log.info("sent %s %s chunks %s to %s (%d bytes)", "patch" if patch else "layer", digest[:12],
                     _ranges(sent), sid, sent_bytes)
        if refused:
            wait_s = self.budget.wait_s(sid, len(refused) * self.chunk_size)
            self._publish(wire.down(sid, wire.SLOW_DOWN), {
                "layer": digest, "chunks": refused, "retry_after_ms": max(int(wait_s * 1000), 100),
                "reason": reason})
            log.info("told %s to slow down: %d chunk(s) of layer %s refused (%s)", sid, len(refused),
                     digest[:12], reason)

    def _ack(self, sid: str, message: dict[str, Any]) -> None:
        command = message.get("command")
        if command is not None:
            self.gateway.command_delivered(sid, int(command))
            peer = self._peers.get(sid)
            if peer is not None:
                peer.commands.discard(int(command))

    # --- what devices must be told ------------------------------------------------------------
    def _poll(self) -> None:
        self.budget.forget_idle()
        for sid, peer in list(self._peers.items()):
            try:
                self._sync(sid, peer)
            except NotFound:
                self._peers.pop(sid, None)
            except Exception:
                log.exception("cannot bring device %s up to date", sid)

    def _sync(self, sid: str, peer: _Peer) -> None:
        desired = wire.encode(self._desired_message(sid))
        if desired != peer.desired:
            self._mqtt.publish(wire.down(sid, wire.DESIRED), desired, qos=1)
            peer.desired = desired
        for command in self.gateway.pending_commands(sid):
            if command.id not in peer.commands:
                self._publish(wire.down(sid, wire.COMMAND), {"id": command.id, "kind": command.kind})
                peer.commands.add(command.id)

    def _desired_message(self, sid: str) -> dict[str, Any]:
        state = self.gateway.desired_state(sid)
        app = None
        if state.app_sid is not None and state.manifest is not None:
            layers = []
            for digest in state.layer_hashes:
                found = self._layer(digest)
                if found is None:
                    log.warning("app %s lacks its layer %s", state.app_sid, digest[:12])
                    continue
                entry = {"hash": digest, "size": len(found[0]), "chunk_size": self.chunk_size,
                         "chunks": found[1]}
                patch = self._patch(sid, state, digest)
                if patch is not None and len(patch.data) <= PATCH_WORTH * len(found[0]):
                    entry["delta"] = {"hash": patch.hash, "size": len(patch.data),
                                      "chunk_size": self.chunk_size,
                                      "chunks": wire.chunk_hashes(patch.data, self.chunk_size),
                                      "source_hash": patch.source_hash}
                layers.append(entry)
            app = {"sid": state.app_sid, "manifest_hash": state.manifest_hash,
                   "manifest": base64.b64encode(state.manifest).decode(), "layers": layers}
            if state.politeness_s is not None:
                app["politeness_s"] = state.politeness_s
        return {"logging": state.logging_enabled, "app": app}

    def _patch(self, sid: str, state: DesiredState, digest: str) -> Patch | None:
        """The patch that makes this layer from the app the device runs, when it runs another app of its
        account that lacks the layer (kept in memory, and in the database across processes)."""
        if state.source is None or digest in state.source[1]:
            return None
        key = (state.source[0], digest)
        if key not in self._patches:
            self._patches[key] = self.gateway.patch(sid, digest)
            while len(self._patches) > PATCH_CACHE:
                self._patches.popitem(last=False)
        self._patches.move_to_end(key)
        return self._patches[key]

    def _layer(self, digest: str) -> tuple[bytes, list[str]] | None:
        if digest in self._layers:
            self._layers.move_to_end(digest)
            return self._layers[digest]
        data = self.gateway.layer(digest)
        if data is None:
            return None
        self._layers[digest] = (data, wire.chunk_hashes(data, self.chunk_size))
        while len(self._layers) > LAYER_CACHE:
            self._layers.popitem(last=False)
        return self._layers[digest]

    def _send_time(self, sid: str) -> None:
        self._publish(wire.down(sid, wire.TIME), {"unix_us": time.time_ns() // 1000, "relay": self.relay.id})

    def _publish(self, topic: str, message: dict[str, Any]) -> None:
        self._mqtt.publish(topic, wire.encode(message), qos=1)

    def _channels_gone(self, sid: str) -> None:
        """The device's channels ended: forget them here, and tell every other relay (another server
        process may hold those of its last connection)."""
        self.relay.device_gone(sid)
        self._publish(wire.service_topic(sid, wire.CHANNELS_GONE), {"relay": self.relay.id})

    def _publish_channel(self, sid: str, message: dict[str, Any]) -> None:
        self._publish(wire.down(sid, channel_link.CHANNEL), message)

    @staticmethod
    def _bridge_factory(destinations: Destinations, channel_ca: str | None):
        """Makes the MQTT session of an MQTT channel (paho loads with the first)."""
        def make(channel: RelayChannel, relay: ChannelRelay) -> Bridge:
            from .mqtt_bridge import MqttBridge

            return MqttBridge(channel, relay, destinations, channel_ca)
        return make

    # --- other threads ------------------------------------------------------------------------
    def send(self, device_sid: str, kind: str, payload: bytes) -> None:
        """Publish one down message of raw bytes to a device (QoS 1), from any thread: paho sends it now,
        or queues it until the worker is connected again."""
        self._mqtt.publish(wire.down(device_sid, kind), payload, qos=1)

    def console_input(self, device_sid: str, data: bytes) -> None:
        """Pass bytes typed at a device's console to whichever worker's relay serves its console channel
        (every worker hears it; QoS 1, in order), from any thread."""
        self._mqtt.publish(wire.service_topic(device_sid, wire.CONSOLE_INPUT), data, qos=1)


def _ranges(indices: list[int]) -> str:
    """[0, 1, 2, 5] as "0-2,5"."""
    parts: list[str] = []
    for index in sorted(indices):
        if parts and "-" in parts[-1] and int(parts[-1].split("-")[1]) == index - 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{index}"
        elif parts and "-" not in parts[-1] and int(parts[-1]) == index - 1:
            parts[-1] = f"{parts[-1]}-{index}"
        else:
            parts.append(str(index))
    return ",".join(parts) or "none"
