"""Driving a paho MQTT client from a thread of one's own that other threads can wake at once.

paho's own `loop(timeout)` waits on the client's socket only, so a message queued by another thread
waits for the timeout (the device link's 50 ms tick was most of an HTTP channel's latency). `turn` waits
on the socket and a `Waker` together, then lets paho read, write and keep the session alive. Passing
`read=False` leaves the broker's bytes in the socket (backpressure: TCP slows the broker down).
"""

from __future__ import annotations

import select
import socket
from typing import Any

import paho.mqtt.client as mqtt


class Waker:
    """A socket pair: `wake()` from any thread ends the owner's current `turn` at once."""

    def __init__(self) -> None:
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)

    def wake(self) -> None:
        try:
            self._write.send(b"\0")
        except OSError:  # full (a wake-up is pending already) or closed (the owner has stopped)
            pass

    def fileno(self) -> int:
        return self._read.fileno()

    def drain(self) -> None:
        try:
            while self._read.recv(4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self._read.close()
        self._write.close()


def turn(client: mqtt.Client | None, waker: Waker, timeout: float, *, read: bool = True) -> int:
    """Wait up to `timeout` s for the client's socket or a wake-up, then let paho do what is due.

    Returns paho's first failing code (the connection is gone), else MQTT_ERR_SUCCESS; with no client
    (or no connection) it only waits.
    """
    sock: Any = client.socket() if client is not None else None
    readers: list[Any] = [waker] + ([sock] if sock is not None and read else [])
    writers = [sock] if sock is not None and client.want_write() else []
    buffered = read and sock is not None and hasattr(sock, "pending") and sock.pending() > 0
    try:
        readable, writable, _ = select.select(readers, writers, [], 0.0 if buffered else timeout)
    except (OSError, ValueError):  # the socket closed under us: paho finds out below
        readable, writable = [], []
    if waker in readable:
        waker.drain()
    if client is None or client.socket() is None:
        return mqtt.MQTT_ERR_SUCCESS if client is None else mqtt.MQTT_ERR_NO_CONN
    codes = []
    if read and (sock in readable or buffered):
        codes.append(client.loop_read())
    if client.socket() is not None and (sock in writable or client.want_write()):
        codes.append(client.loop_write())
    if client.socket() is not None:
        codes.append(client.loop_misc())
    return next((code for code in codes if code != mqtt.MQTT_ERR_SUCCESS), mqtt.MQTT_ERR_SUCCESS)
