"""The kernel's side of the link: hello, logs, crash reports, time, commands and desired state.

Runs on the emulation thread: the connection (kernel/link_client.py) hands everything over with
`device.post`. What goes up and what comes down is described in common/link.py. The rules:

- On every connect the kernel says hello (kernel version, app manifest hash, wake reason, why no
  application runs), then sends the log lines and crash reports still waiting; the hello is sent again
  until the service answers with the time.
- Log lines (mvServerLog) are numbered per boot as they are logged, wait in a bounded buffer (MAX_LINES;
  the oldest are dropped and counted, their numbers left as a gap) and go up in order, one batch at a
  time, each kept until the service acknowledges it; the service stores each (boot, number) once.
- Crash reports stay in secure storage until the service acknowledges each one.
- The service's desired state turns logging on or off (off: the buffer is emptied and mvServerLog
  answers LOGGINGDISABLEDBYSERVER) and names the target app (kernel/fota.py).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ..common import channel_link
from ..common import link as wire
from ..common.mv_abi import MvNetworkReason, MvWakeReason
from ..device.bus import DeviceEvent
from ..device.identity import read_identity

if TYPE_CHECKING:
    from .link_client import LinkClient
    from .microvisor import Microvisor

log = logging.getLogger(__name__)

MAX_LINES = 1000  # log lines kept while the link is down
RESEND_S = 5.0  # a hello, log batch or crash report not answered after this long goes again
TICK_S = 1.0


def install(kernel: Microvisor) -> Link:
    return Link(kernel)


class Link:
    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self.boot = secrets.token_hex(8)
        self.client: LinkClient | None = None
        self.up = False
        self._lines: deque[tuple[int, str]] = deque()  # (sequence number, text)
        self._dropped = 0
        self._next_sequence = 0
        self._batch: dict[str, Any] | None = None
        self._batch_at = 0.0
        self._hello_at: float | None = None
        self._crash: str | None = None  # id of the report sent and not yet acknowledged
        self._crash_at = 0.0
        self._done_commands: set[int] = set()
        self._last_tick = 0.0
        self.relay: str | None = None  # the service's worker that serves this connection's channels
        kernel.fota.send = self.send
        kernel.channels.send = self.send_channel
        kernel.device.events.subscribe(self._on_event)

    def application_started(self) -> None:
        """The link outlives the application."""

    # --- connection ---------------------------------------------------------------------------
    def start(self) -> None:
        """Connect to the broker the device's identity names, if it names one."""
        identity = read_identity(self.kernel.device.state)
        if identity is None or not identity.broker:
            return
        from .link_client import LinkClient, tls_context  # MQTT and TLS load only on a device with a broker

        try:
            host, port = wire.parse_address(identity.broker)
            context = tls_context(identity.ca_pem, identity.certificate_pem, identity.key_pem)
        except (wire.LinkMessageError, ValueError, OSError) as exc:
            log.warning("no link: the device's identity is unusable (%s)", exc)
            return
        self.kernel.network.configured = True
        post = self.kernel.device.post
        post(self.kernel.fota.boot_check)  # once the application has been started (or not)
        self.client = LinkClient(
            identity.sid, host, port, context, on_up=lambda: post(self._link_up),
            on_down=lambda: post(self._link_down),
            on_message=self._on_message,
            on_tick=self._maybe_tick)
        self.client.start()

    def close(self) -> None:
        self.kernel.remote_debug.close()
        if self.client is not None:
            self.client.close()
            self.client = None

    def send(self, kind: str, message: dict[str, Any]) -> bool:
        return self.client is not None and self.client.publish(kind, message)

    def send_bytes(self, kind: str, payload: bytes) -> bool:
        return self.client is not None and self.client.publish_bytes(kind, payload)

    @property
    def relay_ready(self) -> bool:
        """Channels may open: the link is up and the service named the relay that serves them."""
        return self.up and self.relay is not None

    def send_channel(self, message: dict[str, Any]) -> bool:
        """One channel message to this connection's relay (common/channel_link.py)."""
        return self.relay is not None and self.send(f"{channel_link.CHANNEL}/{self.relay}", message)

    def _on_message(self, topic: str, payload: bytes) -> None:  # on the connection's thread
        """Debug messages are served here, so that they reach the debugger while the CPU is halted;
        everything else is the emulation thread's work."""
        if topic == wire.down(self.kernel.device_sid, wire.DEBUG):
            self.kernel.remote_debug.receive(payload)
        else:
            self.kernel.device.post(lambda: self._receive(topic, payload))

    def _maybe_tick(self) -> None:  # on the connection's thread
        now = time.monotonic()
        if now - self._last_tick >= TICK_S:
            self._last_tick = now
            self.kernel.device.post(self._tick)

    def _link_up(self) -> None:
        self.up = True  # the application hears of it when the service has answered (_time)
        self._hello()
        if self._batch is not None:
            self._send_batch()
        self._pump()
        self._crash = None
        self._send_crash()
        self.kernel.fota.link_up()

    def _link_down(self) -> None:
        self.up = False
        self.relay = None
        self.kernel.channels.link_down()
        self.kernel.network.link_changed(False)

    def _tick(self) -> None:
        now = time.monotonic()
        self._update_reasons()
        if not self.up:
            return
        if self._hello_at is not None and now - self._hello_at > RESEND_S:
            self._hello()
        if self._batch is not None and now - self._batch_at > RESEND_S:
            self._send_batch()
        if self._crash is not None and now - self._crash_at > RESEND_S:
            self._crash = None
            self._send_crash()
        self.kernel.fota.tick()

    def _update_reasons(self) -> None:
        reasons = self.kernel.fota.reasons()
        if self.kernel.storage.crash_reports():
            reasons |= MvNetworkReason.APPLICATIONERROR
        self.kernel.network.extra_reasons = reasons

    # --- up -----------------------------------------------------------------------------------
    def _hello(self) -> None:
        kernel = self.kernel
        self._hello_at = time.monotonic()
        self.send(wire.HELLO, {"boot": self.boot, "kernel": kernel.kernel_version,
                               "app": kernel.app_manifest_hash, "wake_reason": kernel.wake_reason.name,
                               "no_application": kernel.no_application_reason,
                               "network_reasons": int(kernel.network.reasons())})

    def _on_event(self, event: DeviceEvent) -> None:
        if event.source == "log" and event.kind == "line":
            self._lines.append((self._next_sequence, str(event.data.get("text", ""))))
            self._next_sequence += 1  # a dropped line keeps its number: the service sees the gap
            while len(self._lines) > MAX_LINES:
                self._lines.popleft()
                self._dropped += 1
            self._pump()
        elif event.source == "kernel" and event.kind == "crash-report":
            self._send_crash()

    def _pump(self) -> None:
        if self._batch is not None or not self._lines or not self.up or self._hello_at is not None:
            return
        batch = [self._lines.popleft() for _ in range(min(wire.MAX_LOG_BATCH, len(self._lines)))]
        self._batch = {"boot": self.boot, "first": batch[0][0], "lines": [text for _, text in batch],
                       "dropped": self._dropped}
        self._dropped = 0
        self._send_batch()

    def _send_batch(self) -> None:
        self._batch_at = time.monotonic()
        self.send(wire.LOGS, self._batch)

    def _send_crash(self) -> None:
        if self._crash is not None or not self.up:
            return
        reports = self.kernel.storage.crash_reports()
        if not reports:
            return
        self._crash = _report_id(reports[0])
        self._crash_at = time.monotonic()
        self.send(wire.CRASH, {"id": self._crash, "report": base64.b64encode(reports[0]).decode()})

    # --- down ---------------------------------------------------------------------------------
    def _receive(self, topic: str, payload: bytes) -> None:
        try:
            where = wire.parse_topic(topic)
            if where.kind == wire.CHUNK and len(where.rest) == 2:
                self.kernel.fota.on_chunk(where.rest[0], int(where.rest[1]), payload)
                return
            message = wire.decode(payload)
        except (wire.LinkMessageError, ValueError) as exc:
            log.warning("link message on %s ignored: %s", topic, exc)
            return
        if where.kind == channel_link.CHANNEL:
            self.kernel.channels.receive(message)
            return
        handler = {wire.TIME: self._time, wire.DESIRED: self._desired, wire.COMMAND: self._command,
                   wire.ACK_DOWN: self._ack, wire.SLOW_DOWN: self.kernel.fota.slow_down}.get(where.kind)
        if handler is not None:
            handler(message)

    def _time(self, message: dict[str, Any]) -> None:
        self.kernel.calls.set_wall_time(int(message["unix_us"]))
        relay = message.get("relay")
        if isinstance(relay, str) and channel_link.is_relay_id(relay):
            self.relay = relay
        self.kernel.network.link_changed(True)
        if self._hello_at is not None:
            self._hello_at = None
            self._pump()

    def _desired(self, message: dict[str, Any]) -> None:
        logging_on = bool(message.get("logging"))
        self.kernel.server_logging.disabled_by_server = not logging_on
        if not logging_on:
            self._lines.clear()
            self._dropped = 0
        self.kernel.fota.desired(message.get("app"))

    def _command(self, message: dict[str, Any]) -> None:
        command, kind = int(message["id"]), str(message.get("kind"))
        self.send(wire.ACK_UP, {"command": command})
        if command in self._done_commands:
            return
        self._done_commands.add(command)
        log.info("command %d: %s", command, kind)
        if kind == "restart-app" and not self.kernel.no_application_reason:
            self.kernel.restart_application(MvWakeReason.REMOTEAPPLICATIONRESTART)
        elif kind == "restart-device":
            self.kernel.reboot("restart-device")

    def _ack(self, message: dict[str, Any]) -> None:
        logs = message.get("logs")
        if isinstance(logs, dict) and self._batch is not None and logs.get("boot") == self.boot:
            if int(logs.get("upto", -1)) >= self._batch["first"] + len(self._batch["lines"]) - 1:
                self._batch = None
                self._pump()
        crash = message.get("crash")
        if crash is not None and crash == self._crash:
            reports = self.kernel.storage.crash_reports()
            if reports and _report_id(reports[0]) == crash:
                self.kernel.storage.remove_crash_reports(1)
            self._crash = None
            self._send_crash()


def _report_id(report: bytes) -> str:
    return hashlib.sha256(report).hexdigest()[:16]
