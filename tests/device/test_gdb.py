"""A real gdb-multiarch debugs real SDK examples on `microvisor device run --gdb`."""

from __future__ import annotations

import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / ".venv" / "bin" / "microvisor"
GDB = "gdb-multiarch"
PORT_LINE = re.compile(r"127\.0\.0\.1:(\d+)")


@pytest.fixture(scope="module", autouse=True)
def _need_gdb() -> None:
    if shutil.which(GDB) is None:
        pytest.fail("gdb-multiarch is missing: run `make setup` (apt gdb-multiarch)")


class DeviceProcess:
    """`microvisor device run FIRMWARE --gdb 0` in the background, and what it printed."""

    def __init__(self, process: subprocess.Popen, port: int, stdout: Path, stderr: Path):
        self.process, self.port = process, port
        self._stdout, self._stderr = stdout, stderr

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout=timeout)

    @property
    def output(self) -> str:
        return self._stdout.read_text() + self._stderr.read_text()


@contextmanager
def device_process(firmware: Path, tmp_path: Path, timeout_s: float = 60) -> Iterator[DeviceProcess]:
    """Start the device with a GDB server on a free port; it is killed if still running after."""
    stdout, stderr = tmp_path / "device.out", tmp_path / "device.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(
            [str(CLI), "device", "run", str(firmware), "--gdb", "0", "--timeout", str(timeout_s)],
            stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None:
            match = PORT_LINE.search(stderr.read_text())
            if match:
                port = int(match.group(1))
            elif process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the device never offered a GDB port:\n{stderr.read_text()}")
            else:
                time.sleep(0.05)
        yield DeviceProcess(process, port, stdout, stderr)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def gdb_batch(elf: Path, port: int, *commands: str, timeout: float = 90) -> str:
    """Run gdb-multiarch in batch mode against the device; returns everything it printed."""
    args = [GDB, "-q", "-batch", "-nx", "-ex", "set confirm off", "-ex", "set pagination off",
            "-ex", f"target extended-remote 127.0.0.1:{port}"]
    for command in commands:
        args += ["-ex", command]
    result = subprocess.run(args + [str(elf)], check=False, capture_output=True, text=True, timeout=timeout)
    return result.stdout + result.stderr


def register_value(output: str, name: str) -> list[int]:
    """Every value `info registers` printed for register `name`, in order."""
    return [int(value, 16) for value in re.findall(rf"^{name}\s+0x([0-9a-f]+)", output, re.MULTILINE)]


def test_breakpoint_print_step_registers_detach_and_attach_again(examples: Path, tmp_path: Path) -> None:
    elf = examples / "blinky" / "blinky.elf"
    with device_process(elf, tmp_path) as device:
        output = gdb_batch(
            elf, device.port,
            "break led_toggle", "continue",
            "print blink_count", "info registers pc",
            "stepi", "info registers pc",
            "next", "info registers pc",
            "info registers",
            "info registers msp psp primask basepri faultmask control",
            "set var blink_count = 41", "print blink_count",
            "print/x *(unsigned int *)0x42020000",  # GPIOA MODER: PA5 made an output
            "print *(unsigned int *)0x10000000",  # nothing there
            "delete", "detach")
        # Detached, the application runs on (it logs on), and another GDB may attach, then kill it.
        logged = device.output.count("LED")
        deadline = time.monotonic() + 30
        while device.output.count("LED") < logged + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert device.process.poll() is None and device.output.count("LED") >= logged + 2, device.output
        again = gdb_batch(elf, device.port, "print blink_count", "kill")
        status = device.wait()
    assert status == 0, device.output
    counted = re.search(r"^\$1 = (\d+)$", again, re.MULTILINE)
    assert counted and int(counted.group(1)) > 41, again  # it went on counting from the value we set
    location = re.search(r"Breakpoint 1 at 0x([0-9a-f]+)", output)
    assert location, output
    assert re.search(r"Breakpoint 1, (led_toggle|toggle_led) \(\)", output), output
    assert re.search(r"^\$1 = 0$", output, re.MULTILINE), output  # the first toggle has not counted yet
    pcs = register_value(output, "pc")
    assert pcs[0] == int(location.group(1), 16), output
    assert pcs[1] > pcs[0] and pcs[2] > pcs[1], output  # stepi and next both moved on
    for name in ("msp", "psp", "primask", "basepri", "faultmask", "control"):
        assert len(register_value(output, name)) == 2, f"{name} missing:\n{output}"
    assert register_value(output, "msp")[0] >> 24 == 0x20, output  # a stack in SRAM
    assert re.search(r"^\$2 = 41$", output, re.MULTILINE), output
    moder = re.search(r"^\$3 = 0x([0-9a-f]+)$", output, re.MULTILINE)
    assert moder and (int(moder.group(1), 16) >> 10) & 3 == 1, output
    assert "Cannot access memory at address 0x10000000" in output, output
    assert "detached" in output, output


def test_watchpoint_reports_old_and_new_value(examples: Path, tmp_path: Path) -> None:
    elf = examples / "blinky" / "blinky.elf"
    with device_process(elf, tmp_path) as device:
        output = gdb_batch(
            elf, device.port,
            "watch blink_count", "continue", "continue", "print blink_count",
            "delete", "kill")
        status = device.wait()
    assert status == 0, device.output
    assert "Hardware watchpoint 1: blink_count" in output, output
    assert re.search(r"Old value = 0\s+New value = 1", output), output
    assert re.search(r"Old value = 1\s+New value = 2", output), output
    # The watchpoint stops once per write: the store was not executed twice.
    assert re.search(r"^\$1 = 2$", output, re.MULTILINE), output
    assert re.search(r"(led_toggle|toggle_led) \(\) at .*main\.c", output), output


def test_crash_stops_with_sigsegv_then_reset_and_end(examples: Path, tmp_path: Path) -> None:
    elf = examples / "fault" / "fault.elf"
    with device_process(elf, tmp_path) as device:
        output = gdb_batch(
            elf, device.port,
            "continue", "bt", "info registers pc",
            "monitor reset halt", "maintenance flush register-cache", "info registers pc",
            "continue", "continue")
        status = device.wait()
    assert status == 4, device.output  # the application crashed: the run reports it
    assert "CRASH: SecureFault" in device.output, device.output
    assert output.count("Program received signal SIGSEGV") == 2, output
    assert re.search(r"#0 .* in main \(\) at .*main\.c", output), output
    pcs = register_value(output, "pc")
    assert len(pcs) == 2 and pcs[0] != pcs[1], output
    assert "reset: halted at pc" in output, output
    assert re.search(r"pc\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <Reset_Handler", output), output
    assert "Program terminated with signal SIGSEGV" in output, output


class MiSession:
    """gdb-multiarch in MI mode: commands go in one at a time, records come back on a queue."""

    def __init__(self, elf: Path):
        self.process = subprocess.Popen(
            [GDB, "-q", "-nx", "--interpreter=mi3", str(elf)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.transcript: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.transcript.append(f">> {command}")
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def expect(self, prefix: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {prefix!r} from gdb:\n" + "\n".join(self.transcript))
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.transcript.append(line)
            if line.startswith(prefix):
                return line

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send("-gdb-exit")
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=10)


def test_interrupt_halts_a_running_device(examples: Path, tmp_path: Path) -> None:
    elf = examples / "blinky" / "blinky.elf"
    with device_process(elf, tmp_path, timeout_s=3600) as device:
        gdb = MiSession(elf)
        try:
            gdb.expect("(gdb)")
            gdb.send("-gdb-set mi-async on")
            gdb.expect("^done")
            gdb.send(f"-target-select extended-remote 127.0.0.1:{device.port}")
            gdb.expect("^connected")
            gdb.send("-exec-continue")
            gdb.expect("*running")
            time.sleep(0.5)
            gdb.send("-exec-interrupt")
            stopped = gdb.expect("*stopped")
            gdb.send("-data-evaluate-expression blink_count")
            value = gdb.expect("^done")
            gdb.send("-target-detach")
            gdb.expect("^done")
        finally:
            gdb.close()
        time.sleep(0.3)
        running = device.process.poll() is None  # detached: the application runs on
    assert 'signal-name="SIGINT"' in stopped, "\n".join(gdb.transcript)
    assert re.fullmatch(r'\^done,value="\d+"', value), value
    assert running, device.output


# --- the protocol itself, from a bare socket ---------------------------------------------------

class RawClient:
    """Speaks the remote protocol by hand (with acks), to check what gdb does not show."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buffer = b""
        self.acks = True

    def _byte(self) -> int:
        if not self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.buffer = data
        byte, self.buffer = self.buffer[0], self.buffer[1:]
        return byte

    def send_packet(self, payload: bytes, checksum: int | None = None) -> None:
        total = sum(payload) & 0xFF if checksum is None else checksum
        self.sock.sendall(b"$" + payload + b"#" + f"{total:02x}".encode())

    def read_ack(self) -> bytes:
        return bytes((self._byte(),))

    def read_packet(self) -> bytes:
        while self._byte() != ord("$"):
            pass
        payload = bytearray()
        while (byte := self._byte()) != ord("#"):
            payload.append(byte)
        digits = bytes((self._byte(), self._byte()))
        assert int(digits, 16) == sum(payload) & 0xFF
        if self.acks:
            self.sock.sendall(b"+")
        return bytes(payload)

    def ask(self, payload: bytes) -> bytes:
        self.send_packet(payload)
        if self.acks:
            assert self.read_ack() == b"+"
        return self.read_packet()


def test_protocol_from_a_raw_socket(examples: Path, tmp_path: Path) -> None:
    elf = examples / "blinky" / "blinky.elf"
    with device_process(elf, tmp_path, timeout_s=3600) as device:
        client = RawClient(device.port)
        client.send_packet(b"?", checksum=0)  # a wrong checksum is refused
        assert client.read_ack() == b"-"
        supported = client.ask(b"qSupported:multiprocess+;swbreak+;xmlRegisters=arm")
        assert b"qXfer:features:read+" in supported and b"PacketSize=" in supported
        assert client.ask(b"?").startswith(b"T05")
        xml = b""
        while True:
            reply = client.ask(b"qXfer:features:read:target.xml:%x,100" % len(xml))
            xml += reply[1:]
            if reply[:1] == b"l":
                break
        assert b"org.gnu.gdb.arm.m-profile" in xml and b'name="basepri"' in xml
        registers = client.ask(b"g")
        assert len(registers) == 23 * 8
        assert client.ask(b"m10000000,4") == b"E01"  # nothing mapped there
        assert client.ask(b"M20001000,4:78563412") == b"OK"
        assert client.ask(b"m20001000,4") == b"78563412"
        # Binary write with escaped bytes: 0x23 '#' 0x7d '}' go as '}' + byte ^ 0x20.
        client.send_packet(b"X20001000,4:\x7d\x03\x7d\x5d\x01\x02")
        assert client.read_ack() == b"+" and client.read_packet() == b"OK"
        assert client.ask(b"m20001000,4") == b"237d0102"
        assert client.ask(b"p11") == registers[0x11 * 8:0x12 * 8]  # msp by number
        assert client.ask(b"P0=efbeadde") == b"OK" and client.ask(b"p0") == b"efbeadde"
        assert client.ask(b"qC") == b"QC1" and client.ask(b"qAttached") == b"1"
        assert client.ask(b"QStartNoAckMode") == b"OK"
        client.acks = False
        client.send_packet(b"c")
        time.sleep(0.3)
        client.sock.sendall(b"\x03")
        stop = client.read_packet()
        assert stop.startswith(b"T02") and b"thread:1;" in stop, stop
        client.send_packet(b"D")
        assert client.read_packet() == b"OK"
        client.sock.close()
        # Detached, the device runs on; a new client may connect, and `k` ends the run.
        time.sleep(0.3)
        assert device.process.poll() is None, device.output
        again = RawClient(device.port)
        assert again.ask(b"?").startswith(b"T05")  # connecting halted it again
        again.send_packet(b"k")
        assert again.read_ack() == b"+"
        status = device.wait()
    assert status == 0, device.output
