"""The station's end of a DUT's provisioning UART: JSON lines over TCP, read on a thread of their own."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from typing import Any

MAX_LINE = 64 * 1024


class UartLinkError(Exception):
    """The DUT's UART does not answer, closed, or said nothing in time."""


class UartLink:
    """`send` a JSON object; `next(timeout)` the next object the chip sent."""

    def __init__(self, host: str, port: int, connect_timeout_s: float = 10.0):
        try:
            self._sock = socket.create_connection((host, port), timeout=connect_timeout_s)
        except OSError as exc:
            raise UartLinkError(f"the provisioning UART {host}:{port} does not answer "
                                f"({exc.strerror or exc})") from None
        self._sock.settimeout(None)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, name=f"uart-{port}", daemon=True).start()

    def send(self, message: dict[str, Any]) -> None:
        try:
            self._sock.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        except OSError as exc:
            raise UartLinkError(f"the provisioning UART closed ({exc.strerror or exc})") from None

    def next(self, timeout_s: float) -> dict[str, Any]:
        """The next message, waiting at most timeout_s (0 or less: only one already there)."""
        try:
            message = self._inbox.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            raise UartLinkError("the DUT said nothing in time") from None
        if message is None:
            self._inbox.put(None)
            raise UartLinkError("the DUT's provisioning UART closed")
        return message

    def drain(self, quiet_s: float) -> list[dict[str, Any]]:
        """What the chip said before now (its backlog): read until it is quiet for quiet_s."""
        drained: list[dict[str, Any]] = []
        deadline = time.monotonic() + quiet_s
        while time.monotonic() < deadline:
            try:
                message = self._inbox.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                break
            if message is None:
                self._inbox.put(None)
                break
            drained.append(message)
            deadline = time.monotonic() + quiet_s
        return drained

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the reader thread, which then sees the end
        except OSError:
            pass
        self._sock.close()

    def _read(self) -> None:
        buffer = b""
        try:
            while True:
                data = self._sock.recv(65536)
                if not data:
                    break
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    try:
                        message = json.loads(line)
                    except (ValueError, UnicodeDecodeError):
                        continue
                    if isinstance(message, dict):
                        self._inbox.put(message)
                if len(buffer) > MAX_LINE:
                    buffer = b""
        except OSError:
            pass
        self._inbox.put(None)
