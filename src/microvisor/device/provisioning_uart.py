"""The provisioning UART (PE4/PB0) as a TCP byte stream: one JSON message per line, both ways.

One station at a time; a new connection replaces the old one. What the chip says while no station
listens waits (a bounded number of lines) and goes out when one connects; what a station sends is
read by whoever runs on the chip (the ROM's SFI loader, the test program, the kernel's reports).
A line longer than MAX_LINE or not a JSON object is dropped, never acted on.
"""

from __future__ import annotations

import collections
import json
import logging
import queue
import socket
import threading
from typing import Any

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
MAX_WAITING = 1000
MAX_INBOX = 64  # messages from the station not yet read; more are dropped


def close_listener(listener: socket.socket) -> None:
    """Stop listening now: shutdown wakes a thread blocked in accept(), which a close alone does not
    (and the port would stay bound until it returned)."""
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    listener.close()


class UartClosed(Exception):
    """No answer came on the provisioning UART in time."""


class ResetRequested(Exception):
    """The station pulled the chip's reset line (`{"command": "reset"}`): whatever runs stops."""

    def __init__(self, reset_id: str | None):
        super().__init__("reset by the station")
        self.reset_id = reset_id


class ProvisioningUart:
    """Listens on host:port; `send` and `receive` carry JSON objects."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self._listener = socket.create_server((host, port))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._client: socket.socket | None = None
        self._waiting: collections.deque[bytes] = collections.deque(maxlen=MAX_WAITING)
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue(MAX_INBOX)
        self._closed = False
        threading.Thread(target=self._accept, name="provisioning-uart", daemon=True).start()

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            if self._client is not None:
                try:
                    self._client.sendall(line)
                    return
                except OSError:
                    self._drop_client()
            self._waiting.append(line)

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next message from the station; UartClosed when none comes within timeout seconds,
        ResetRequested when the station resets the chip."""
        if self._closed:
            raise UartClosed("the provisioning UART is closed")
        try:
            message = self._inbox.get(timeout=timeout)
        except queue.Empty:
            raise UartClosed(f"no answer on the provisioning UART within {timeout:g} s") from None
        if message is None:  # closed while waiting
            raise UartClosed("the provisioning UART is closed")
        if message.get("command") == "reset":
            reset_id = message.get("id")
            raise ResetRequested(reset_id if isinstance(reset_id, str) else None)
        return message

    def discard_input(self) -> None:
        """Forget what the station sent before now (a new boot does not act on an old request)."""
        while not self._closed:
            try:
                self._inbox.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        """Stop listening; a receive waiting now or later raises UartClosed."""
        self._closed = True
        with self._lock:
            self._drop_client()
        close_listener(self._listener)
        try:
            self._inbox.put_nowait(None)
        except queue.Full:
            pass

    def _drop_client(self) -> None:
        if self._client is not None:
            try:  # shutdown first: a close alone leaves the reader thread's recv, and the station, waiting
                self._client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._client.close()
            self._client = None

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._drop_client()
                self._client = conn
                try:
                    while self._waiting:
                        conn.sendall(self._waiting[0])
                        self._waiting.popleft()
                except OSError:
                    self._drop_client()
                    continue
            threading.Thread(target=self._read, args=(conn,), name="provisioning-uart-rx",
                             daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        buffer, overlong = b"", False
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if not overlong:
                    self._deliver(line)
                overlong = False
            if len(buffer) > MAX_LINE:  # drop it, and what comes of it up to the next newline
                log.warning("provisioning UART: a line over %d bytes dropped", MAX_LINE)
                buffer, overlong = b"", True

    def _deliver(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            message = json.loads(line) if len(line) <= MAX_LINE else None
        except (ValueError, UnicodeDecodeError):
            message = None
        if not isinstance(message, dict):
            log.warning("provisioning UART: a line that is not a JSON object dropped")
            return
        try:
            self._inbox.put_nowait(message)
        except queue.Full:
            log.warning("provisioning UART: more than %d unread messages; one dropped", MAX_INBOX)
