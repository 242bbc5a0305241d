"""The blank chip's SWD-like debug port: GDB remote protocol over TCP until the ROM locks it for good.

What a programmer can do through it while the chip is open (factory state, debug not locked):
read memory (`m`: internal flash at 0x08000000 and its secure alias 0x0C000000, the QSPI part
memory-mapped at 0x90000000, the 96-bit UID at 0x0BFA0700), program flash (`vFlashErase`,
`vFlashWrite`, `vFlashDone`, whole pages or sectors), and `monitor` commands: `uid`, `sha256 ADDR
LEN`, `reset`, and `sfi-start`, which enables TrustZone, locks the debug port and restarts the chip
into the ROM's SFI loader. The chip-unique key and the OTP are not on this bus. Once locked, the
port is closed and never opened again: a locked chip refuses the connection.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading

from .flash import FlashError, PowerCut
from .rsp import PacketReader, frame, unescape_binary
from .state import DeviceState

log = logging.getLogger(__name__)

FLASH_NS, FLASH_S, FLASH_SIZE = 0x0800_0000, 0x0C00_0000, 2 * 1024 * 1024
QSPI_BASE = 0x9000_0000
UID_BASE = 0x0BFA_0700
PACKET_SIZE = 0x4000
HELP = ("monitor commands: uid; sha256 ADDR LEN; reset; sfi-start (enable TrustZone, lock this port "
        "for good, restart into the SFI loader)\n")


def listen(port: int, host: str = "127.0.0.1") -> socket.socket:
    """The port's socket: the same one across the chip's power-ons, closed for good when locked."""
    listener = socket.create_server((host, port))
    listener.settimeout(0.2)
    return listener


class DebugPort:
    """Serves one programmer at a time for one power-on; `wait()` returns "reset", "sfi-start" or
    "power-cut" (a flash write the power did not survive)."""

    def __init__(self, state: DeviceState, listener: socket.socket):
        self.state = state
        self._listener = listener
        self._done = threading.Event()
        self.action: str | None = None
        self._thread = threading.Thread(target=self._serve, name="debug-port", daemon=True)
        self._thread.start()

    def wait(self) -> str:
        self._done.wait()
        self._thread.join()
        return self.action or "closed"

    def close(self) -> None:
        self._done.set()

    # --- the protocol --------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._done.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            try:
                self._session(conn)
            except OSError:
                pass
            finally:
                conn.close()

    def _session(self, conn: socket.socket) -> None:
        reader = PacketReader()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while not self._done.is_set():
            conn.settimeout(0.2)  # waiting for a packet, see now and then whether the chip moved on
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            conn.settimeout(None)
            for kind, payload in reader.feed(data):
                if kind == "bad":
                    conn.sendall(b"-")
                elif kind == "packet":
                    conn.sendall(b"+")
                    for reply in self._handle(payload):
                        conn.sendall(frame(reply))
                    if self.action is not None:
                        self._done.set()
                        return

    def _handle(self, payload: bytes) -> list[bytes]:
        packet = payload.decode("latin-1")
        try:
            if packet.startswith("qSupported"):
                return [f"PacketSize={PACKET_SIZE:x}".encode()]
            if packet == "?":
                return [b"S05"]
            if packet.startswith("m"):
                address, length = (int(x, 16) for x in packet[1:].split(","))
                return [self._read(address, length).hex().encode()]
            if packet.startswith("vFlashErase:"):
                address, length = (int(x, 16) for x in packet[12:].split(","))
                self._erase(address, length)
                return [b"OK"]
            if packet.startswith("vFlashWrite:"):
                colon = payload.index(b":", 12)
                self._program(int(payload[12:colon], 16), unescape_binary(payload[colon + 1:]))
                return [b"OK"]
            if packet == "vFlashDone":
                self.state.flush()
                return [b"OK"]
            if packet.startswith("qRcmd,"):
                return self._monitor(bytes.fromhex(packet[6:]).decode("utf-8", "replace").strip())
        except (ValueError, IndexError):
            return [b"E01"]
        except FlashError as exc:
            log.warning("debug port: %s", exc)
            return [b"E03"]
        except PowerCut:
            self.action = "power-cut"
            return []
        return [b""]  # not supported

    def _monitor(self, command: str) -> list[bytes]:
        words = command.split()
        if words == ["uid"]:
            return _console(self.state.option_bytes.chip_uid.hex() + "\n")
        if len(words) == 3 and words[0] == "sha256":
            return _console(hashlib.sha256(self._read(int(words[1], 0), int(words[2], 0))).hexdigest() + "\n")
        if words == ["reset"]:
            self.action = "reset"
            return [b"OK"]
        if words == ["sfi-start"]:
            ob = self.state.option_bytes
            ob.tzen = True
            ob.debug_locked = True  # the ROM never opens this port again
            self.action = "sfi-start"
            log.info("debug port locked; TrustZone on; restarting into the SFI loader")
            return [b"OK"]
        return _console(f"unknown monitor command {command!r}\n" + HELP)

    # --- the bus -------------------------------------------------------------------------------
    def _target(self, address: int, length: int) -> tuple[str, int]:
        if length < 0 or length > 16 * 1024 * 1024:
            raise ValueError("length")
        for base in (FLASH_NS, FLASH_S):
            if base <= address and address + length <= base + FLASH_SIZE:
                return "flash", address - base
        if QSPI_BASE <= address and address + length <= QSPI_BASE + self.state.qspi.size:
            return "qspi", address - QSPI_BASE
        if UID_BASE <= address and address + length <= UID_BASE + 12:
            return "uid", address - UID_BASE
        raise ValueError("unmapped")

    def _read(self, address: int, length: int) -> bytes:
        where, offset = self._target(address, length)
        if where == "flash":
            return self.state.internal_flash.read(offset, length)
        if where == "qspi":
            return self.state.qspi.read(offset, length)
        return self.state.option_bytes.chip_uid[offset:offset + length]

    def _erase(self, address: int, length: int) -> None:
        where, offset = self._target(address, length)
        if where == "flash":
            flash = self.state.internal_flash
            if offset % flash.page_size or length % flash.page_size:
                raise ValueError("erase must cover whole pages")
            flash.erase_dirty(offset, length)
        elif where == "qspi":
            qspi = self.state.qspi
            if offset % qspi.sector_size or length % qspi.sector_size:
                raise ValueError("erase must cover whole sectors")
            qspi.erase_dirty(offset, length)
        else:
            raise ValueError("read-only")

    def _program(self, address: int, data: bytes) -> None:
        where, offset = self._target(address, len(data))
        if where == "flash":
            self.state.internal_flash.program(offset, data)
        elif where == "qspi":
            self.state.qspi.program_pages(offset, data)
        else:
            raise ValueError("read-only")


def _console(text: str) -> list[bytes]:
    return [b"O" + text.encode().hex().encode(), b"OK"]
