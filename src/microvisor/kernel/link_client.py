"""The device's MQTT 5 connection to its broker: mutual TLS, reconnects with back-off and jitter, own thread.

The connection runs paho's network loop on its own thread and never touches the device: it calls
`on_up`, `on_down`, `on_message` and `on_tick` (about every TICK_S) from that thread, and the kernel
hands them to the emulation thread with `device.post`. Only that thread uses the paho client (its TLS
socket is not safe to share): `publish` from any other thread goes through an outbox it drains,
waking the thread at once (common/mqtt_loop.py).
"""

from __future__ import annotations

import logging
import os
import queue
import random
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ..common import link as wire
from ..common.mqtt_loop import Waker, turn

log = logging.getLogger(__name__)

KEEPALIVE_S = 30
BACKOFF_MIN_S = 0.25
BACKOFF_MAX_S = 8.0
TICK_S = 0.05
CONNECT_TIMEOUT_S = 5.0


def tls_context(ca_pem: str, certificate_pem: str, key_pem: str) -> ssl.SSLContext:
    """A client TLS context that trusts only the platform CA and presents the device's certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=ca_pem)
    with tempfile.TemporaryDirectory(prefix="mv-link-") as folder:  # owner-only, gone at once
        certificate, key = Path(folder) / "device.pem", Path(folder) / "device-key.pem"
        certificate.write_text(certificate_pem)
        descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(key_pem)
        context.load_cert_chain(str(certificate), str(key))
    return context


def backoff_s(attempt: int, low: float = BACKOFF_MIN_S, high: float = BACKOFF_MAX_S) -> float:
    """How long to wait before reconnect attempt `attempt` (1, 2, …): exponential, capped, full jitter."""
    ceiling = min(high, low * (2 ** min(attempt - 1, 16)))
    return random.uniform(ceiling / 2, ceiling)


class LinkClient:
    """One device's connection; `start()` it, `close()` it."""

    def __init__(self, device_sid: str, host: str, port: int, context: ssl.SSLContext,
                 on_up: Callable[[], None], on_down: Callable[[], None],
                 on_message: Callable[[str, bytes], None], on_tick: Callable[[], None]):
        self.device_sid = device_sid
        self.host, self.port = host, port
        self.on_up, self.on_down, self.on_message, self.on_tick = on_up, on_down, on_message, on_tick
        self._stop = threading.Event()
        self._up = False
        self._outbox: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        self._waker = Waker()  # a message queued from another thread goes out at once, not at the tick
        self._thread: threading.Thread | None = None
        self._context = context
        self._mqtt = self._new_client()

    def _new_client(self) -> mqtt.Client:
        """A fresh client for each connection: nothing of a lost one (queued or in flight) is replayed;
        the kernel sends again what still matters."""
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.device_sid, protocol=mqtt.MQTTv5,
                             reconnect_on_failure=False)
        client.tls_set_context(self._context)
        client.username_pw_set(self.device_sid)  # the broker checks it, and the client id, against the CN
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.will_set(wire.up(self.device_sid, wire.STATUS), wire.encode({"online": False}), qos=1)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    @property
    def up(self) -> bool:
        return self._up

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"link-{self.device_sid[:8]}", daemon=True)
        self._thread.start()

    def publish(self, kind: str, message: dict[str, Any]) -> bool:
        """Queue one up message (QoS 1); False when the link is down (the caller sends it again later)."""
        return self.publish_bytes(kind, wire.encode(message))

    def publish_bytes(self, kind: str, payload: bytes) -> bool:
        """Queue one up message of raw bytes (QoS 1); False when the link is down."""
        if not self._up:
            return False
        self._outbox.put((wire.up(self.device_sid, kind), payload))
        self._waker.wake()
        return True

    def _drain(self) -> None:
        while True:
            try:
                topic, payload = self._outbox.get_nowait()
            except queue.Empty:
                return
            if self._up:
                self._mqtt.publish(topic, payload, qos=1)

    def close(self) -> None:
        """Say goodbye (the service marks the device offline) and stop the thread."""
        self.publish(wire.STATUS, {"online": False})
        self._stop.set()
        self._waker.wake()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- the connection thread ----------------------------------------------------------------
    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            try:
                self._mqtt = self._new_client()
                self._mqtt.connect(self.host, self.port, keepalive=KEEPALIVE_S, clean_start=True)
                while not self._stop.is_set():
                    self._drain()
                    if turn(self._mqtt, self._waker, TICK_S) != mqtt.MQTT_ERR_SUCCESS:
                        break
                    if self._up:
                        attempt = 0
                    self.on_tick()
            except (OSError, ssl.SSLError, ValueError) as exc:
                log.info("link to %s:%d failed: %s", self.host, self.port, exc)
            if self._stop.is_set():
                break
            self._went_down()
            self._stop.wait(backoff_s(max(attempt, 1)))
        self._disconnect()  # what is still queued (the goodbye) goes first

    def _disconnect(self) -> None:
        try:
            self._drain()
            self._mqtt.disconnect()  # written at once: this thread owns the socket
        except (OSError, ssl.SSLError, ValueError):
            pass
        self._went_down()

    def _went_down(self) -> None:
        if self._up:
            self._up = False
            log.info("link to %s:%d down", self.host, self.port)
            while not self._outbox.empty():  # the kernel sends again what still matters
                self._outbox.get_nowait()
            self.on_down()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.warning("the broker refused device %s: %s", self.device_sid, reason)
            return
        wire.no_delay(client)
        client.subscribe(wire.device_filter(self.device_sid), qos=1)
        self._up = True
        log.info("link to %s:%d up", self.host, self.port)
        self.on_up()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self._went_down()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.on_message(message.topic, bytes(message.payload))
