"""The GDB Remote Serial Protocol's framing: packets, checksums, binary escapes; both ends use it."""

from __future__ import annotations

INTERRUPT = 0x03
_ESCAPED = b"#$}*"


def checksum(payload: bytes) -> int:
    return sum(payload) & 0xFF


def escape_binary(data: bytes) -> bytes:
    """Escape the bytes that may not appear raw inside a packet ('}' then the byte XOR 0x20)."""
    out = bytearray()
    for byte in data:
        if byte in _ESCAPED:
            out += bytes((0x7D, byte ^ 0x20))
        else:
            out.append(byte)
    return bytes(out)


def unescape_binary(data: bytes) -> bytes:
    out = bytearray()
    escaped = False
    for byte in data:
        if escaped:
            out.append(byte ^ 0x20)
            escaped = False
        elif byte == 0x7D:
            escaped = True
        else:
            out.append(byte)
    return bytes(out)


def frame(payload: bytes) -> bytes:
    return b"$" + payload + b"#" + f"{checksum(payload):02x}".encode()


class PacketReader:
    """Splits the byte stream from GDB into packets, acks and Ctrl-C interrupts."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._in_packet = False

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        """Returns events: ("packet", payload), ("bad", b""), ("ack", b"+"/b"-"), ("interrupt", b"")."""
        events: list[tuple[str, bytes]] = []
        for byte in data:
            if self._in_packet:
                self._buffer.append(byte)
                # A packet ends two checksum digits after an (always unescaped) '#'.
                if len(self._buffer) >= 3 and self._buffer[-3] == ord("#"):
                    raw = bytes(self._buffer)
                    self._buffer.clear()
                    self._in_packet = False
                    payload, digits = raw[:-3], raw[-2:]
                    try:
                        good = int(digits, 16) == checksum(payload)
                    except ValueError:
                        good = False
                    events.append(("packet", payload) if good else ("bad", b""))
            elif byte == ord("$"):
                self._in_packet = True
                self._buffer.clear()
            elif byte == INTERRUPT:
                events.append(("interrupt", b""))
            elif byte in b"+-":
                events.append(("ack", bytes((byte,))))
            # anything else between packets is line noise: ignored
        return events
