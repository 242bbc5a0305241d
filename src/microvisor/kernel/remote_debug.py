"""Remote debugging over the link: sessions signed by the app's debug key, served by the device's GDB stub.

A session (common/debug_channel.py) is accepted only when the installed application's manifest names
a debug key and the messages are signed by it. The GDB remote-protocol bytes it carries go to the
device's own GDB stub (device/gdbstub.py, the one `device run --gdb` serves) over a loopback
connection, and what the stub answers goes back encrypted to the debug key. Everything here runs on
the link's thread and the stub's threads, never on the emulation thread, so that it goes on while the
debugger holds the CPU halted; the stub's limits (secure memory is never reachable) apply as they do
locally. Closing the session, or the link, detaches: the application runs on.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import TYPE_CHECKING

from ..common import debug_channel as channel
from ..common import keys
from ..common import link as wire

if TYPE_CHECKING:
    from ..device.gdbstub import GdbServer
    from .microvisor import Microvisor

log = logging.getLogger(__name__)
READ_SIZE = 16 * 1024  # bytes of the stub's answer sent up at once (well under MAX_DEBUG_MESSAGE)
STUB_RELEASE_S = 2.0  # how long a new session waits for the stub to let the last one go


class RemoteDebug:
    """The device's end of remote debugging: one session at a time."""

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self._lock = threading.Lock()
        self._session: channel.DeviceSession | None = None
        self._connection: socket.socket | None = None
        self._server: GdbServer | None = None

    def receive(self, payload: bytes) -> None:
        """One message from the developer (on the link's thread); refused ones are logged and dropped."""
        key = self._debug_key()
        if key is None:
            log.warning("debug message refused: the installed application names no debug key")
            return
        try:
            message = channel.read_down(key, payload)
            with self._lock:
                if message.kind == channel.OPEN:
                    self._open(key, message.session)
                    return
                if self._session is None:
                    raise channel.DebugChannelError("no debug session is open")
                body = self._session.accept(message)
                if message.kind == channel.DATA:
                    self._send_to_stub(body)
                else:
                    self._end()
        except channel.DebugChannelError as exc:
            log.warning("debug message refused: %s", exc)

    def close(self) -> None:
        """The link is going: end the session (the application runs on) and stop the stub."""
        with self._lock:
            self._end()
            if self._server is not None:
                self._server.close()
                self._server = None

    def _debug_key(self) -> keys.PublicKey | None:
        body = self.kernel.app_body
        raw = bytes(body.debug.debug_auth_pubkey) if body is not None and body.HasField("debug") else b""
        if not raw:
            return None
        try:
            return keys.from_raw_public(raw)
        except keys.KeyFileError:
            return None

    def _open(self, key: keys.PublicKey, session: bytes) -> None:
        self._end()
        if self._server is None:
            from ..device.gdbstub import GdbServer  # loads with the first session

            self._server = GdbServer(self.kernel.device, 0, running=True)
        deadline = time.monotonic() + STUB_RELEASE_S
        while self._server.connected and time.monotonic() < deadline:  # the last session's, going
            time.sleep(0.01)
        connection = socket.create_connection(("127.0.0.1", self._server.port))
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._session, self._connection = channel.DeviceSession(key, session), connection
        self._publish(self._session.opened())
        threading.Thread(target=self._pump, args=(self._session, connection), name="remote-debug",
                         daemon=True).start()
        log.info("remote debug session opened")

    def _send_to_stub(self, data: bytes) -> None:
        try:
            if self._connection is not None:
                self._connection.sendall(data)
        except OSError:
            self._end()

    def _pump(self, session: channel.DeviceSession, connection: socket.socket) -> None:
        """What the stub answers, sent up encrypted, until the connection closes."""
        while True:
            try:
                data = connection.recv(READ_SIZE)
            except OSError:
                data = b""
            if not data:
                break
            with self._lock:
                if self._session is session:
                    self._publish(session.data(data))

    def _end(self) -> None:
        """Close the session's connection: the stub detaches, the application runs on."""
        session, connection = self._session, self._connection
        self._session = self._connection = None
        if connection is not None:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()
        if session is not None:
            self._publish(session.close())
            log.info("remote debug session closed")

    def _publish(self, payload: bytes) -> None:
        if not self.kernel.link.send_bytes(wire.DEBUG, payload):
            log.warning("debug message not sent: the link is down")
