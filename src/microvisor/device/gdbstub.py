"""A GDB Remote Serial Protocol server that debugs a virtual device's application core."""

from __future__ import annotations

import logging
import queue
import socket
import threading
from typing import Any

from .cpu import MemoryAccessError
from .rsp import PacketReader, escape_binary, frame, unescape_binary
from .machine import Device

log = logging.getLogger(__name__)

# Remote register numbers: the order of the 'g' packet and the numbers of 'p'/'P'.
CORE_REGISTERS = tuple(f"r{i}" for i in range(13)) + ("sp", "lr", "pc", "xpsr")
SYSTEM_REGISTERS = ("msp", "psp", "primask", "basepri", "faultmask", "control")
REGISTER_NAMES = CORE_REGISTERS + SYSTEM_REGISTERS
PC_NUMBER, SP_NUMBER, LR_NUMBER = 15, 13, 14

SIGINT, SIGTRAP, SIGSEGV = 0x02, 0x05, 0x0B
PACKET_SIZE = 0x4000
HALTED_POLL_S = 0.1  # while halted, how often the microvisor's own posted work is run
_RESET_HELP = "monitor commands: reset [halt] - reset the application core and stay halted\n"

_CORE_TYPES = {"sp": "data_ptr", "pc": "code_ptr"}


def _target_xml() -> str:
    """The target description: Cortex-M core registers plus the M-profile system registers."""
    core = "".join(
        f'<reg name="{name}" bitsize="32" regnum="{number}" type="{_CORE_TYPES.get(name, "int")}"/>'
        for number, name in enumerate(CORE_REGISTERS))
    system = "".join(
        f'<reg name="{name}" bitsize="32" regnum="{number}" '
        f'type="{"data_ptr" if name.endswith("sp") else "uint32"}" group="system"/>'
        for number, name in enumerate(SYSTEM_REGISTERS, start=len(CORE_REGISTERS)))
    return ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">'
            '<target version="1.0"><architecture>arm</architecture>'
            f'<feature name="org.gnu.gdb.arm.m-profile">{core}</feature>'
            f'<feature name="org.gnu.gdb.arm.m-system">{system}</feature></target>')


TARGET_XML = _target_xml().encode()


def _u32_hex(value: int) -> str:
    return (value & 0xFFFF_FFFF).to_bytes(4, "little").hex()


class GdbServer:
    """Serves one GDB at a time on 127.0.0.1; the device calls `stopped` whenever its CPU halts.

    Everything that touches the device happens inside `stopped`, on the emulation thread; a
    reader thread only frames packets, acknowledges them and turns Ctrl-C into a halt request.

    `detach` (or a GDB that goes away) removes its breakpoints and watchpoints and lets the
    application run on; another GDB may connect later. `kill` ends the run. A crashed application
    cannot go on: after a crash stop, `continue` or `step` answer that the program ended with SIGSEGV
    and the run ends (unless `monitor reset halt` restarted it first).
    """

    def __init__(self, device: Device, port: int = 0, host: str = "127.0.0.1", running: bool = False):
        """Listen on host:port; `running`: the CPU runs now (the first GDB to connect halts it), else
        it waits halted for GDB (`device run --gdb`)."""
        self.device = device
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listener.bind((host, port))
            self._listener.listen(1)
        except OSError:
            self._listener.close()
            raise
        self.port: int = self._listener.getsockname()[1]
        self._events: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._conn: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._last_sent = b""
        self._ack_mode = True
        self._closing = False
        self._running = running  # the device runs freely (after 'continue'): Ctrl-C means halt
        self._awaiting_stop = False  # GDB resumed the target and waits for a stop reply
        self._stop_reply = f"T{SIGTRAP:02x}"
        self._first_stop = True
        self._watchpoints: set[tuple[int, int, str]] = set()
        self._accepter = threading.Thread(target=self._accept, name="gdb-accept", daemon=True)
        self._reader: threading.Thread | None = None
        device.debugger = self
        self._accepter.start()
        log.info("GDB server listening on %s:%d", host, self.port)

    # --- connection (other threads) -----------------------------------------------------------
    def _accept(self) -> None:
        self._listener.settimeout(0.2)  # look at _closing now and then: close() does not wake accept
        while not self._closing:
            try:
                conn, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            if self._conn is not None:
                log.warning("refusing a second GDB connection from %s:%d", *peer)
                conn.close()
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            log.info("GDB connected from %s:%d", *peer)
            self._ack_mode = True
            self._events = queue.Queue()  # this connection's: nothing of an earlier one is left in it
            self._conn = conn
            if self._running:
                self.device.request_halt()  # connecting halts the core, as a probe does
            self._reader = threading.Thread(target=self._read, args=(conn, self._events),
                                            name="gdb-reader", daemon=True)
            self._reader.start()

    def _read(self, conn: socket.socket, events: queue.Queue[tuple[str, bytes]]) -> None:
        reader = PacketReader()
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            for kind, payload in reader.feed(data):
                if kind == "packet":
                    if self._ack_mode:
                        self._send_raw(b"+")
                    if payload == b"QStartNoAckMode":
                        self._ack_mode = False  # before the next packet can arrive
                    log.debug("gdb <- %r", payload[:200])
                    events.put(("packet", payload))
                elif kind == "bad":
                    if self._ack_mode:
                        self._send_raw(b"-")
                elif kind == "ack":
                    if payload == b"-" and self._last_sent:
                        self._send_raw(self._last_sent)
                elif kind == "interrupt":
                    log.debug("gdb <- Ctrl-C")
                    self.device.request_halt()
        log.info("GDB disconnected")
        events.put(("closed", b""))
        if self._conn is conn:
            self._conn = None
        if self._running:  # gone while the application runs: it runs on, without breakpoints
            self.device.post(self._forget)

    def _send_raw(self, data: bytes) -> None:
        conn = self._conn
        if conn is None:
            return
        with self._send_lock:
            try:
                conn.sendall(data)
            except OSError:
                log.debug("GDB connection lost while sending")

    def _send(self, payload: str | bytes) -> None:
        data = payload.encode("latin-1") if isinstance(payload, str) else payload
        log.debug("gdb -> %r", data[:200])
        packet = frame(data)
        self._last_sent = packet
        self._send_raw(packet)

    @property
    def connected(self) -> bool:
        """Whether a GDB is connected."""
        return self._conn is not None

    def close(self) -> None:
        """Stop serving: tell a GDB still waiting for the target that the program ended."""
        self._closing = True
        if self._conn is not None and self._awaiting_stop:
            crash = self.device.crash
            self._send(f"X{SIGSEGV:02x}" if crash is not None else "W00")
        try:
            self._listener.close()
        except OSError:
            pass
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        for thread in (self._accepter, self._reader):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=2)
        if self.device.debugger is self:
            self.device.debugger = None

    # --- the emulation thread -----------------------------------------------------------------
    def stopped(self, reason: str, info: dict[str, Any]) -> str:
        """Serve GDB while the CPU is halted; returns 'continue', 'step' or 'detach'."""
        self._running = False
        self._stop_reply = self._make_stop_reply(reason, info)
        log.debug("halted: %s %s", reason, info)
        if self._awaiting_stop:
            self._awaiting_stop = False
            self._send(self._stop_reply)
        while True:
            kind, payload = self._next_event()
            if kind == "closed":
                return self._detach()
            action = self._handle(payload.decode("latin-1"), payload)
            if action is None:
                continue
            if action == "detach":
                return self._detach()
            if action == "kill":
                return self._end("killed")
            if self.device.crash is not None:
                # The crashed application cannot run on: the program ends here.
                self._send(f"X{SIGSEGV:02x}")
                return self._end("detached")
            self._awaiting_stop = True
            if action == "continue":
                self.device.resume_from_breakpoint()
                if self.device.crash is not None:  # the instruction under the breakpoint faulted
                    self._awaiting_stop = False
                    self._send(f"X{SIGSEGV:02x}")
                    return self._end("detached")
                self._running = True
            return action

    def _next_event(self) -> tuple[str, bytes]:
        while True:
            try:
                return self._events.get(timeout=HALTED_POLL_S)
            except queue.Empty:
                if self._closing:
                    return ("closed", b"")
                self.device.run_posted()  # the microvisor's own work goes on while the CPU is halted

    def _detach(self) -> str:
        """GDB leaves: its breakpoints and watchpoints go, the application runs on; the next GDB to
        connect halts it again."""
        self._forget()
        self._awaiting_stop = False
        self._first_stop = True
        self._running = True
        conn = self._conn
        if conn is not None:  # GDB closes its side after `detach`; a new connection is welcome
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.device.crash is not None:
            return self._end("detached")
        return "continue"

    def _forget(self) -> None:
        """Remove every breakpoint and watchpoint (on the emulation thread)."""
        for address in list(self.device.breakpoints):
            self.device.clear_breakpoint(address)
        for address, length, kind in list(self._watchpoints):
            self.device.clear_watchpoint(address, length, kind)
        self._watchpoints.clear()

    def _end(self, reason: str) -> str:
        """The run ends here (kill, or an application that cannot go on)."""
        self._running = False
        self._awaiting_stop = False
        self.device.stop(reason)
        return "continue"

    def _make_stop_reply(self, reason: str, info: dict[str, Any]) -> str:
        if reason == "crash":
            signal = SIGSEGV
        elif reason == "interrupt":
            signal = SIGTRAP if self._first_stop else SIGINT
        else:
            signal = SIGTRAP
        self._first_stop = False
        cpu = self.device.cpu
        parts = [f"T{signal:02x}"]
        for number in (PC_NUMBER, SP_NUMBER, LR_NUMBER):
            parts.append(f"{number:02x}:{_u32_hex(cpu.reg(REGISTER_NAMES[number]))};")
        if reason == "watchpoint":
            parts.append(f"{self._watch_verb(info)}:{info['address']:x};")
        parts.append("thread:1;")
        return "".join(parts)

    def _watch_verb(self, info: dict[str, Any]) -> str:
        address, access = info["address"], info.get("kind", "w")
        kinds = {kind for start, length, kind in self._watchpoints
                 if start <= address < start + max(length, 1)}
        if access in kinds:
            return {"w": "watch", "r": "rwatch", "a": "awatch"}[access]
        if "a" in kinds:
            return "awatch"
        return {"w": "watch", "r": "rwatch"}.get(access, "awatch")

    # --- packets ------------------------------------------------------------------------------
    def _handle(self, packet: str, raw: bytes) -> str | None:
        """Answer one packet; returns an action for the device when it resumes or detaches."""
        try:
            return self._dispatch(packet, raw)
        except (ValueError, IndexError, KeyError) as exc:
            log.debug("malformed packet %r: %s", packet[:80], exc)
            self._send("E02")
            return None

    def _dispatch(self, packet: str, raw: bytes) -> str | None:
        if not packet:
            self._send("")
            return None
        head = packet[0]
        if head == "?":
            self._send(self._stop_reply)
        elif head == "g":
            self._send("".join(_u32_hex(self.device.cpu.reg(n)) for n in REGISTER_NAMES))
        elif head == "G":
            self._write_all_registers(bytes.fromhex(packet[1:]))
        elif head == "p":
            number = int(packet[1:], 16)
            if number < len(REGISTER_NAMES):
                self._send(_u32_hex(self.device.cpu.reg(REGISTER_NAMES[number])))
            else:
                self._send("E01")
        elif head == "P":
            number_text, value_text = packet[1:].split("=", 1)
            number = int(number_text, 16)
            if number < len(REGISTER_NAMES):
                self._write_register(REGISTER_NAMES[number],
                                     int.from_bytes(bytes.fromhex(value_text), "little"))
                self._send("OK")
            else:
                self._send("E01")
        elif head == "m":
            address_text, length_text = packet[1:].split(",", 1)
            data = self._read_memory(int(address_text, 16), min(int(length_text, 16),
                                                                  PACKET_SIZE // 2 - 16))
            self._send(data.hex() if data or int(length_text, 16) == 0 else "E01")
        elif head == "M":
            where, hex_data = packet[1:].split(":", 1)
            address_text, _ = where.split(",", 1)
            self._send("OK" if self._write_memory(int(address_text, 16), bytes.fromhex(hex_data))
                       else "E01")
        elif head == "X":
            colon = raw.index(b":")
            address_text, _ = packet[1:colon].split(",", 1)
            data = unescape_binary(raw[colon + 1:])
            self._send("OK" if self._write_memory(int(address_text, 16), data) else "E01")
        elif head in "cs":
            if len(packet) > 1:
                self._write_register("pc", int(packet[1:], 16))
            return "continue" if head == "c" else "step"
        elif head in "CS":
            _, _, address_text = packet[1:].partition(";")
            if address_text:
                self._write_register("pc", int(address_text, 16))
            return "continue" if head == "C" else "step"
        elif head in "Zz":
            self._breakpoint_packet(packet)
        elif head == "D":
            self._send("OK")
            return "detach"
        elif head == "k":
            return "kill"
        elif head in "!H":  # extended mode; thread selection (there is one thread)
            self._send("OK")
        elif head == "T":
            self._send("OK" if packet[1:] in ("1", "-1", "0") else "E01")
        elif head == "q":
            self._query(packet)
        elif head == "Q":
            self._set(packet)
        elif head == "v":
            return self._v_packet(packet)
        else:
            self._send("")
        return None

    def _query(self, packet: str) -> None:
        name = packet.split(":", 1)[0].split(",", 1)[0]
        if name == "qSupported":
            self._send(f"PacketSize={PACKET_SIZE:x};qXfer:features:read+;QStartNoAckMode+;"
                       "vContSupported+")
        elif name == "qXfer" and packet.startswith("qXfer:features:read:"):
            annex, _, span = packet[len("qXfer:features:read:"):].partition(":")
            if annex != "target.xml":
                self._send("E00")
                return
            offset_text, length_text = span.split(",", 1)
            offset, length = int(offset_text, 16), int(length_text, 16)
            chunk = TARGET_XML[offset:offset + length]
            more = offset + length < len(TARGET_XML)
            self._send((b"m" if more else b"l") + escape_binary(chunk))
        elif name == "qAttached":
            self._send("1")
        elif name == "qC":
            self._send("QC1")
        elif name == "qfThreadInfo":
            self._send("m1")
        elif name == "qsThreadInfo":
            self._send("l")
        elif name == "qSymbol":
            self._send("OK")
        elif name == "qRcmd":
            self._monitor(bytes.fromhex(packet.split(",", 1)[1]).decode("utf-8", "replace"))
        elif name == "qThreadExtraInfo":
            self._send(b"Cortex-M33 application core".hex())
        else:
            self._send("")

    def _set(self, packet: str) -> None:
        if packet == "QStartNoAckMode":
            self._ack_mode = False
            self._send("OK")
        elif packet.startswith("QNonStop:"):
            self._send("OK" if packet.endswith(":0") else "E01")
        else:
            self._send("")

    def _v_packet(self, packet: str) -> str | None:
        if packet == "vCont?":
            self._send("vCont;c;C;s;S")
        elif packet.startswith("vCont;"):
            # One thread: the first action (they are listed leftmost first) is the one that applies.
            action = packet[len("vCont;"):].split(";", 1)[0].split(":", 1)[0]
            if action[:1] in ("c", "C"):
                return "continue"
            if action[:1] in ("s", "S"):
                return "step"
            self._send("E01")
        elif packet.startswith("vKill"):
            self._send("OK")
            return "kill"
        else:
            self._send("")
        return None

    def _breakpoint_packet(self, packet: str) -> None:
        insert = packet[0] == "Z"
        kind_text, address_text, size_text = packet[1:].split(";", 1)[0].split(",", 2)
        kind, address, size = int(kind_text), int(address_text, 16), int(size_text, 16)
        device = self.device
        if kind in (0, 1):
            (device.set_breakpoint if insert else device.clear_breakpoint)(address)
        elif kind in (2, 3, 4):
            access = {2: "w", 3: "r", 4: "a"}[kind]
            key = (address, size, access)
            if insert:
                device.set_watchpoint(address, size, access)
                self._watchpoints.add(key)
            else:
                device.clear_watchpoint(address, size, access)
                self._watchpoints.discard(key)
        else:
            self._send("")
            return
        self._send("OK")

    def _monitor(self, command: str) -> None:
        words = command.split()
        if words[:1] == ["reset"] and words[1:] in ([], ["halt"], ["init"]):
            self.device.reset("debugger")
            self._stop_reply = self._make_stop_reply("step", {})
            self._console(f"reset: halted at pc 0x{self.device.cpu.reg('pc'):08x}\n")
            self._send("OK")
        elif words[:1] == ["help"] or not words:
            self._console(_RESET_HELP)
            self._send("OK")
        else:
            self._console(f"unknown monitor command {command!r}\n" + _RESET_HELP)
            self._send("OK")

    def _console(self, text: str) -> None:
        self._send("O" + text.encode().hex())

    # --- registers and memory -----------------------------------------------------------------
    def _write_register(self, name: str, value: int) -> None:
        if name == "pc":
            value |= 1  # Unicorn takes bit 0 of the PC as the Thumb bit (xPSR.T): keep it set
        self.device.cpu.set_reg(name, value)

    def _write_all_registers(self, data: bytes) -> None:
        for number, name in enumerate(REGISTER_NAMES):
            chunk = data[4 * number:4 * number + 4]
            if len(chunk) < 4:
                break
            if name == "sp":
                continue  # the banked msp/psp below say it; sp follows CONTROL.SPSEL
            self._write_register(name, int.from_bytes(chunk, "little"))
        self._send("OK")

    def _mapped_end(self, address: int) -> int | None:
        """End of the mapped RAM/flash region holding `address`, or None."""
        for begin, end, _perms in self.device.cpu.uc.mem_regions():
            if begin <= address <= end:
                return end + 1
        return None

    def _read_memory(self, address: int, length: int) -> bytes:
        """As many bytes from `address` as can be read (fewer when unmapped memory follows)."""
        device = self.device
        out = bytearray()
        position, end = address, address + length
        while position < end:
            peripheral = device.peripheral_at(position)
            if peripheral is not None:
                stop = min(end, peripheral.base + peripheral.size)
                word = position & ~3
                try:
                    while word < stop:
                        value = device.bus_read32(word).to_bytes(4, "little")
                        lo, hi = max(position, word), min(stop, word + 4)
                        out += value[lo - word:hi - word]
                        position = hi
                        word += 4
                except MemoryAccessError:
                    break
                continue
            region_end = self._mapped_end(position)
            if region_end is None:
                break
            stop = min(end, region_end)
            for peripheral in device.peripherals:
                if position < peripheral.base < stop:
                    stop = peripheral.base
            try:
                out += device.cpu.read(position, stop - position)
            except MemoryAccessError:
                break
            position = stop
        return bytes(out)

    def _write_memory(self, address: int, data: bytes) -> bool:
        device = self.device
        if not data:
            return True
        peripheral = device.peripheral_at(address)
        if peripheral is not None:
            if address % 4 or len(data) % 4 or address + len(data) > peripheral.base + peripheral.size:
                return False
            try:
                for offset in range(0, len(data), 4):
                    device.bus_write32(address + offset,
                                       int.from_bytes(data[offset:offset + 4], "little"))
            except MemoryAccessError:
                return False
            return True
        region_end = self._mapped_end(address)
        if region_end is None or address + len(data) > region_end:
            return False
        try:
            device.cpu.write(address, data)
        except MemoryAccessError:
            return False
        return True
