"""Remote debugging through the service: real gdb-multiarch, `devices debug`, a real server and device."""

from __future__ import annotations

import base64
import contextlib
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from microvisor.common import debug_channel as dc
from microvisor.common import keys
from microvisor.common.api_client import ApiError

from ..conftest import CLI
from .conftest import DeviceRun, Lines, Server, wait_until
from .test_link import create_device

GDB = "gdb-multiarch"
PORT_LINE = re.compile(r"extended-remote 127\.0\.0\.1:(\d+)")


@pytest.fixture(scope="module", autouse=True)
def _need_gdb() -> None:
    if shutil.which(GDB) is None:
        pytest.fail("gdb-multiarch is missing: run `make setup` (apt gdb-multiarch)")


def key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    return keys.save_pair(folder / f"{name}.pem", keys.generate())


@contextmanager
def debug_server(server: Server, sid: str, private: Path, timeout: float = 20):
    """`microvisor devices debug SID --key PRIVATE --port 0`, and the port it serves GDB on."""
    process = subprocess.Popen([str(CLI), "devices", "debug", sid, "--key", str(private), "--port", "0",
                                "--timeout", str(timeout)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=server.env())
    stderr, stdout = Lines(process.stderr), Lines(process.stdout)
    try:
        match = wait_until(lambda: PORT_LINE.search(stderr.text) or process.poll() is not None, 30,
                           "devices debug to listen")
        assert isinstance(match, re.Match), stderr.text
        yield int(match.group(1)), stdout, stderr
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def packet(body: bytes) -> bytes:
    """A GDB remote-protocol packet."""
    return b"$" + body + b"#" + f"{sum(body) & 0xFF:02x}".encode()


def gdb_batch(elf: Path, port: int, *commands: str, timeout: float = 60) -> str:
    args = [GDB, "-q", "-batch", "-nx", "-ex", "set confirm off", "-ex", "set pagination off",
            "-ex", "set remotetimeout 20", "-ex", f"target extended-remote 127.0.0.1:{port}"]
    for command in commands:
        args += ["-ex", command]
    result = subprocess.run(args + [str(elf)], check=False, capture_output=True, text=True, timeout=timeout)
    return result.stdout + result.stderr


def test_gdb_debugs_a_device_through_the_service_end_to_end(server, examples, tmp_path):
    elf = examples / "blinky" / "blinky.elf"
    private, public = key_pair(tmp_path, "debug")
    sid = create_device(server, tmp_path / "dev")
    server.cli("devices", "update", sid, "--logging")  # the device prints its app's lines only then
    device = DeviceRun(tmp_path / "dev", server.env())
    try:
        server.cli("deploy", str(elf), "--device", sid, "--debug-key", str(public), "--wait")
        device.wait_for("LED on", timeout=30)
        with debug_server(server, sid, private) as (port, stdout, _):
            output = gdb_batch(
                elf, port,
                "break led_toggle", "continue",
                "print blink_count", "info registers pc", "stepi", "info registers pc",
                "set var blink_count = 41", "print blink_count",
                "delete", "watch blink_count", "continue",  # the write changes what the app does next
                "print/x *(unsigned int *)0x0C000000",  # the microvisor's flash: never reachable
                "delete", "detach")
            assert "debug session open" in stdout.text, stdout.text
        assert re.search(r"Breakpoint 1, (led_toggle|toggle_led) \(\)", output), output
        pcs = [int(value, 16) for value in re.findall(r"^pc\s+0x([0-9a-f]+)", output, re.MULTILINE)]
        assert len(pcs) == 2 and pcs[1] > pcs[0], output  # stepi moved on
        assert re.search(r"^\$2 = 41$", output, re.MULTILINE), output
        assert re.search(r"Old value = 41\s+New value = 42", output), output
        assert "Cannot access memory at address 0xc000000" in output, output
        # Detached, the application runs on: it logs on and goes on counting from 41.
        logged = device.output.text.count("LED")
        wait_until(lambda: device.output.text.count("LED") >= logged + 2, 30, "the app to run on")
        with server.api() as api:
            row = api.get(f"/v1/Devices/{sid}")
        assert row["connection"]["connected"]  # the device kept its link throughout
    finally:
        device.stop()


def test_a_key_the_manifest_does_not_name_opens_nothing(server, examples, tmp_path):
    elf = examples / "blinky" / "blinky.elf"
    _, public = key_pair(tmp_path, "debug")
    stranger, _ = key_pair(tmp_path, "stranger")
    sid = create_device(server, tmp_path / "dev")
    server.cli("devices", "update", sid, "--logging")  # the device prints its app's lines only then
    device = DeviceRun(tmp_path / "dev", server.env())
    try:
        server.cli("deploy", str(elf), "--device", sid, "--debug-key", str(public), "--wait")
        with debug_server(server, sid, stranger, timeout=3) as (port, stdout, stderr):
            started = time.monotonic()
            output = gdb_batch(elf, port, "info registers pc", timeout=60)
            assert time.monotonic() - started < 50
            wait_until(lambda: "did not answer" in stderr.text, 10, "devices debug to give up")
        assert "debug session open" not in stdout.text
        assert not re.search(r"^pc\s+0x", output, re.MULTILINE), output
        wait_until(lambda: "debug message refused" in device.output.text, 10, "the device to refuse")
        assert "not signed by the app's debug key" in device.output.text
    finally:
        device.stop()


def test_the_service_sees_only_ciphertext_and_cannot_replay_or_tamper(server, examples, tmp_path):
    # The developer's end driven by hand over the REST relay, so that the test holds every byte the
    # service carried: what it relays from the device is ciphertext, and a request it replays or
    # alters is refused by the device.
    elf = examples / "blinky" / "blinky.elf"
    private, public = key_pair(tmp_path, "debug")
    sid = create_device(server, tmp_path / "dev")
    server.cli("devices", "update", sid, "--logging")  # the device prints its app's lines only then
    device = DeviceRun(tmp_path / "dev", server.env())
    answers: queue.Queue[bytes] = queue.Queue()
    opened = threading.Event()
    carried: list[bytes] = []  # every message the service relayed from the device

    def follow() -> None:
        with server.api() as stream, contextlib.suppress(ApiError):  # it breaks when the test ends
            for name, data in stream.events(f"/v1/Devices/{sid}/Debug/Stream", on_open=opened.set):
                if name == "debug":
                    carried.append(base64.b64decode(data["payload"]))
                    answers.put(carried[-1])

    try:
        server.cli("deploy", str(elf), "--device", sid, "--debug-key", str(public), "--wait")
        device.wait_for("LED on", timeout=30)
        threading.Thread(target=follow, daemon=True).start()
        assert opened.wait(20)
        session = dc.DeveloperSession(keys.load_private(private))
        with server.api() as api:
            def post(message: bytes) -> None:
                api.request("POST", f"/v1/Devices/{sid}/Debug", content=message,
                            headers={"Content-Type": "application/octet-stream"})

            def reply() -> bytes:
                """The stub's next packet, decrypted: '+' (its ack), then $...#xx."""
                data = b""
                while not re.search(rb"#[0-9a-f]{2}$", data):
                    data += session.read(answers.get(timeout=20))[1]
                return data

            post(session.open())
            assert session.read(answers.get(timeout=20))[0] == dc.OPENED
            request = session.data(packet(b"m8000000,4"))  # the vector table's first word: the stack top
            post(request)
            word = re.search(rb"\$([0-9a-f]{8})#", reply()).group(1)
            post(request)  # the service replays it
            tampered = bytearray(session.data(packet(b"m8000004,4")))
            tampered[-70] ^= 1  # a byte of the encrypted body
            post(bytes(tampered))
            wait_until(lambda: "replayed" in device.output.text and "not signed" in device.output.text, 15,
                       "the device to refuse both")
            assert answers.empty()  # neither got an answer
            post(session.close())
        # What the service relayed from the device is sealed: the word read is nowhere in it.
        assert carried and all(message.startswith(b"MVU") for message in carried)
        assert not any(word in message or b"$" + word in message for message in carried)
    finally:
        device.stop()
