"""The station's debug probe: a GDB remote protocol client for a blank chip's debug port."""

from __future__ import annotations

import socket

from ..device.rsp import PacketReader, escape_binary, frame

QSPI_BASE = 0x9000_0000
CHUNK = 0x1000  # bytes of one vFlashWrite (the port's packet size is 0x4000, escaped)


class ProbeError(Exception):
    """The debug port refused, went away or answered an error; the message says which."""


class DebugProbe:
    """One connection to a chip's debug port (a context manager)."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0):
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as exc:
            raise ProbeError(f"the debug port {host}:{port} does not answer "
                             f"({exc.strerror or exc})") from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = PacketReader()
        self._pending: list[bytes] = []

    def __enter__(self) -> DebugProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def command(self, payload: bytes) -> tuple[bytes, str]:
        """Send one packet; (reply, console output of a monitor command)."""
        try:
            self._sock.sendall(frame(payload))
            console = ""
            while True:
                reply = self._packet()
                if reply.startswith(b"O") and reply not in (b"OK",):
                    console += bytes.fromhex(reply[1:].decode()).decode("utf-8", "replace")
                    continue
                if reply.startswith(b"E") and len(reply) == 3:
                    raise ProbeError(f"the debug port answered error {reply.decode()} to "
                                     f"{payload[:24].decode('latin-1')!r}")
                return reply, console
        except OSError as exc:
            raise ProbeError(f"the debug port connection failed ({exc.strerror or exc})") from None

    def _packet(self) -> bytes:
        while not self._pending:
            data = self._sock.recv(65536)
            if not data:
                raise ProbeError("the debug port closed the connection")
            for kind, body in self._reader.feed(data):
                if kind == "packet":
                    self._sock.sendall(b"+")
                    self._pending.append(body)
        return self._pending.pop(0)

    def monitor(self, text: str) -> str:
        return self.command(b"qRcmd," + text.encode().hex().encode())[1]

    def chip_uid(self) -> bytes:
        return bytes.fromhex(self.monitor("uid").strip())

    def sha256(self, address: int, length: int) -> str:
        return self.monitor(f"sha256 {address:#x} {length:#x}").strip()

    def read(self, address: int, length: int) -> bytes:
        reply, _ = self.command(f"m{address:x},{length:x}".encode())
        return bytes.fromhex(reply.decode())

    def program_qspi(self, offset: int, data: bytes, progress=None) -> None:
        """Erase the sectors and program data at QSPI offset (sector-aligned)."""
        padded = data + b"\xff" * (-len(data) % 4096)
        self._ok(self.command(f"vFlashErase:{QSPI_BASE + offset:x},{len(padded):x}".encode())[0])
        for start in range(0, len(data), CHUNK):
            chunk = data[start:start + CHUNK]
            self._ok(self.command(f"vFlashWrite:{QSPI_BASE + offset + start:x}:".encode()
                                  + escape_binary(chunk))[0])
            if progress is not None:
                progress(start + len(chunk), len(data))
        self._ok(self.command(b"vFlashDone")[0])

    @staticmethod
    def _ok(reply: bytes) -> None:
        if reply != b"OK":
            raise ProbeError(f"the debug port did not accept the flash command ({reply[:40]!r})")
