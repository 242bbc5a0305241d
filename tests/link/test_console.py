"""A device's console end to end: a real server and broker, a device running the SDK's console example,
driven through the REST API (POST …/Console, GET …/Console/Stream) and `microvisor console`.

The tests share one device; the last one says "bye", which ends the example's console for good.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from microvisor.common import channel_link
from microvisor.common import link as wire

from ..conftest import CLI
from ..security.conftest import create_account, settle
from .conftest import DeviceRun, Server, SseStream, free_port, wait_until
from .test_debug_relay import device as hand_driven_device
from .test_link import create_device

OCTET_STREAM = {"Content-Type": "application/octet-stream"}
RECEIVE_BUFFER = 512  # the example's receive buffer (sdk/examples/console/main.c RX_SIZE)
MAX_INPUT = 16 * 1024  # what one POST …/Console may carry


class ConsoleStream(SseStream):
    """GET …/Console/Stream read by a thread: every piece of output as it comes."""

    def __init__(self, server: Server, sid: str, auth: tuple[str, str] | None = None, **params: str):
        super().__init__(server, f"/v1/Devices/{sid}/Console/Stream", auth, **params)

    @property
    def text(self) -> str:
        return b"".join(base64.b64decode(data["payload"]) for _, _, data in list(self.events)).decode()

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match:
        found = wait_until(lambda: re.search(pattern, self.text), timeout, f"{pattern!r} on the console")
        assert isinstance(found, re.Match)
        return found


def post(server: Server, sid: str, data: bytes, headers: dict[str, str] | None = None,
         auth: tuple[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/Devices/{sid}/Console", content=data,
                      headers=OCTET_STREAM if headers is None else headers, auth=auth or server.credentials,
                      timeout=10)


def console_cli(server: Server, *args: str, stdin: bytes = b"", env: dict[str, str] | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "console", *args], input=stdin, capture_output=True, timeout=timeout,
                          env=env or server.env(), check=False)


@pytest.fixture(scope="module")
def console(server: Server, examples: Path, tmp_path_factory) -> Iterator[tuple[str, DeviceRun]]:
    """A device running the console example, its console open: (SID, the device's process)."""
    folder = tmp_path_factory.mktemp("console_device")
    sid = create_device(server, folder / "dev")
    server.cli("devices", "update", sid, "--logging")  # the device prints its app's lines only then
    device = DeviceRun(folder / "dev", server.env())
    try:
        server.cli("deploy", str(examples / "console" / "console.elf"), "--device", sid, "--wait")
        device.wait_for("console: open", timeout=60)
        yield sid, device
    finally:
        device.stop()


def test_typed_lines_are_answered_in_order_however_much_is_typed(server, console):
    sid, device = console
    stream = ConsoleStream(server, sid)
    try:
        assert stream.status == 200
        answer = post(server, sid, b"echo hi\n")
        assert answer.status_code == 202 and answer.json() == {"device_sid": sid, "bytes": 8}
        stream.wait_for(r"(?m)^hi\n> ")
        assert post(server, sid, b"add 2 40\nadd -5 2147483647\nadd 1\nuptime\n").status_code == 202
        found = stream.wait_for(r"42\n> 2147483642\n> add: give two whole numbers.*\n> up (\d+)\.\d{6} s\n")
        assert int(found.group(1)) >= 0
        # Far more than the device's receive buffer in one POST, and more in a second: the relay hands
        # it over as the application reads, so every line is answered, once, in order.
        items = [f"L{n:04d}:{'abcdefghijklmnopqrstuvwxyz'[n % 26] * (n % 50 + 10)}" for n in range(160)]
        first = "".join(f"echo {item}\n" for item in items[:120]).encode()
        second = "".join(f"echo {item}\n" for item in items[120:]).encode()
        assert len(first) > 8 * RECEIVE_BUFFER
        assert post(server, sid, first).status_code == 202
        assert post(server, sid, second).status_code == 202
        wait_until(lambda: items[-1] in stream.text, 60, "the last echo")
        assert re.findall(r"L\d{4}:[a-z]+", stream.text) == items
        sequences = [data["sequence"] for _, _, data in stream.events]
        assert sequences == sorted(set(sequences))
        assert all(name == "console" and event_id == str(data["sequence"]) and data["device_sid"] == sid
                   for event_id, name, data in stream.events)
    finally:
        stream.close()
    assert "console: channel closed" not in device.output.text  # the channel stayed open throughout


def test_a_stream_can_start_from_a_sequence(server, console):
    sid, _ = console
    live = ConsoleStream(server, sid)
    try:
        assert post(server, sid, b"echo replay-me\n").status_code == 202
        live.wait_for(r"replay-me\n> ")
        first = live.events[0][2]["sequence"]
        again = ConsoleStream(server, sid, After=str(first - 1))
        try:
            again.wait_for(r"replay-me\n> ")
            assert again.events[0][2]["sequence"] == first
        finally:
            again.close()
    finally:
        live.close()


def test_refused_posts_reach_nothing(server, console):
    sid, _ = console
    stream = ConsoleStream(server, sid)
    try:
        too_large = post(server, sid, b"echo big" + b"g" * MAX_INPUT + b"\n")
        assert too_large.status_code == 413
        assert set(too_large.json()) == {"code", "message", "more_info", "status"}
        assert too_large.json()["status"] == 413
        empty = post(server, sid, b"")
        assert empty.status_code == 400 and "empty" in empty.json()["message"]
        form = post(server, sid, b"echo form\n", {"Content-Type": "application/x-www-form-urlencoded"})
        assert form.status_code == 415 and form.json()["status"] == 415
        assert post(server, sid, b"echo plain\n", {"Content-Type": "text/plain"}).status_code == 415
        for bad, status in (("UV..", 404), ("x" * 300, 400)):  # no such device; not a device reference
            refused = httpx.post(f"{server.url}/v1/Devices/{bad}/Console", content=b"echo bad\n",
                                 headers=OCTET_STREAM, auth=server.credentials, timeout=10)
            assert refused.status_code == status and refused.json()["status"] == status
        bad_after = httpx.get(f"{server.url}/v1/Devices/{sid}/Console/Stream", params={"After": "-1"},
                              auth=server.credentials, timeout=10)
        assert bad_after.status_code == 400 and bad_after.json()["status"] == 400
        unauthenticated = httpx.post(f"{server.url}/v1/Devices/{sid}/Console", content=b"echo anon\n",
                                     headers=OCTET_STREAM, timeout=10)
        assert unauthenticated.status_code == 401
        assert post(server, sid, b"echo control\n").status_code == 202
        stream.wait_for(r"control\n> ")
        assert all(word not in stream.text for word in ("big", "form", "plain", "bad", "anon"))
        assert stream.text.startswith("control\n")  # nothing else reached the device before it
    finally:
        stream.close()


def test_another_account_can_neither_read_nor_type(server, console):
    sid, _ = console
    other = create_account(server, "console neighbour")
    theirs = (other.sid, other.token)
    mine = ConsoleStream(server, sid)
    try:
        refused = post(server, sid, b"echo intruder\n", auth=theirs)
        assert refused.status_code == 404 and refused.json()["status"] == 404
        spy = ConsoleStream(server, sid, auth=theirs)
        assert spy.status == 404
        spy.close()
        cli = console_cli(server, sid, stdin=b"echo intruder-cli\n", env=other.env())
        assert cli.returncode == 1
        assert cli.stderr.decode().strip() == f"error: the service knows no device {sid} in this account."
        assert post(server, sid, b"echo owner\n").status_code == 202
        mine.wait_for(r"owner\n> ")
        settle(0.5)
        assert "intruder" not in mine.text
    finally:
        mine.close()


def test_the_cli_reports_bad_input_in_one_sentence(server):
    unknown = console_cli(server, "UV" + "0" * 32)
    assert unknown.returncode == 1 and unknown.stdout == b""
    message = unknown.stderr.decode().strip()
    assert message == f"error: the service knows no device UV{'0' * 32} in this account.", message
    nowhere = console_cli(server, "UV" + "0" * 32, "--server", f"http://127.0.0.1:{free_port()}")
    assert nowhere.returncode == 1 and len(nowhere.stderr.decode().strip().splitlines()) == 1
    assert "cannot reach the service" in nowhere.stderr.decode()
    for args in (["a/b"], ["dev", "--timeout", "0"], ["dev", "--quiet", "-1"], ["dev", "--server", "ftp://x"]):
        refused = console_cli(server, *args)
        assert refused.returncode == 2 and len(refused.stderr.decode().strip().splitlines()) == 1, args
        assert "Traceback" not in refused.stderr.decode()
    described = subprocess.run([str(CLI), "console", "--help"], capture_output=True, text=True, timeout=30,
                               check=False)
    assert described.returncode == 0 and "--timeout" in described.stdout and "Ctrl-D" in described.stdout


def test_any_server_process_takes_input_and_streams_output(servers, tmp_path):
    # Two processes on one broker and database; the device (driven by hand) opens its console on the
    # relay of whichever worker answered its hello. Input posted to either reaches it, and what it
    # writes shows on streams of both.
    first, second = servers
    wait_until(lambda: "link worker connected" in second.log, 15, "B's link worker to reach A's broker")
    peer = hand_driven_device(first, tmp_path / "dev")
    streams: list[ConsoleStream] = []
    try:
        peer.send(wire.HELLO, {"boot": "b1"})
        answered = wait_until(lambda: peer.received(wire.down(peer.sid, wire.TIME)), 10, "the time")
        relay = json.loads(answered[0][1])["relay"]
        peer.send(f"{channel_link.CHANNEL}/{relay}",
                  {"op": "open", "ch": 1, "type": "opaque", "endpoint": "console", "window": 512})
        opened = re.compile(rf"device {peer.sid} opened channel 1 \(opaque\)")
        wait_until(lambda: opened.search(first.log + second.log), 10, "the relay to open the channel")
        streams = [ConsoleStream(server, peer.sid) for server in servers]
        down = wire.down(peer.sid, channel_link.CHANNEL)

        def typed() -> bytes:
            messages = [json.loads(payload) for _, payload in peer.received(down)]
            return b"".join(base64.b64decode(m["data"]) for m in messages if m["op"] == "data")

        for number, server in enumerate(servers):
            assert post(server, peer.sid, b"line from %d\n" % number).status_code == 202
            wait_until(lambda number=number: typed().endswith(b"line from %d\n" % number), 10, "the input")
        assert typed() == b"line from 0\nline from 1\n"
        peer.send(f"{channel_link.CHANNEL}/{relay}",
                  {"op": "data", "ch": 1, "seq": 0, "data": base64.b64encode(b"\x00out\xff\n").decode()})
        for stream in streams:
            wait_until(lambda stream=stream: stream.events, 10, "the output on each server's stream")
            assert base64.b64decode(stream.events[0][2]["payload"]) == b"\x00out\xff\n"
        credits = [json.loads(payload) for _, payload in peer.received(down)]
        assert {"op": "credit", "ch": 1, "bytes": 6} in credits  # the relay took the output
        # The device connects again and the other worker answers: the relay that held the console
        # forgets it too (its channels ended with the last connection), so input reaches nothing. The
        # shared subscription deals hellos round the workers; one answered by the same relay starts over.
        for attempt in range(8):
            times = len(peer.received(wire.down(peer.sid, wire.TIME)))
            peer.send(wire.HELLO, {"boot": f"b{attempt + 2}"})
            answered = wait_until(lambda times=times: peer.received(wire.down(peer.sid, wire.TIME))[times:],
                                  10, "time")
            if json.loads(answered[0][1])["relay"] != relay:
                break
            peer.send(f"{channel_link.CHANNEL}/{relay}",
                      {"op": "open", "ch": 1, "type": "opaque", "endpoint": "console", "window": 512})
            time.sleep(0.3)
        else:
            raise AssertionError("every hello was answered by the same worker")
        time.sleep(0.5)
        before = typed()
        for server in servers:
            assert post(server, peer.sid, b"after reconnecting\n").status_code == 202
        time.sleep(1.0)
        assert typed() == before
    finally:
        for stream in streams:
            stream.close()
        peer.close()


class Terminal:
    """`microvisor console` on a pseudo-terminal of its own (its controlling terminal: Ctrl-C is SIGINT)."""

    def __init__(self, server: Server, *args: str):
        self.pid, self.master = pty.fork()
        if self.pid == 0:  # the child: the CLI, on the terminal
            os.execve(str(CLI), [str(CLI), "console", *args], server.env())
        self.seen = b""

    def read_until(self, text: bytes, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            assert time.monotonic() < deadline, f"no {text!r} on the terminal: {self.seen[-500:]!r}"
            if select.select([self.master], [], [], 0.2)[0]:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:  # the child has gone
                    break
        assert text in self.seen, self.seen[-500:]

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def exit_status(self, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.master)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"the console did not end: {self.seen[-500:]!r}")


def test_at_a_terminal_lines_are_sent_output_is_defused_and_ctrl_d_or_c_ends(server, console):
    sid, _ = console
    for ending in (b"\x04", b"\x03"):  # Ctrl-D at the start of a line, Ctrl-C
        terminal = Terminal(server, sid)
        terminal.read_until(b"Ctrl-D or Ctrl-C ends.")
        terminal.type(b"echo hi\n")
        terminal.read_until(b"\nhi\r\n> ")
        # What the device writes cannot drive the terminal: its escape sequences are shown, not obeyed.
        assert post(server, sid, b"echo \x1b]0;title\x07\x1b[2Jcleared\n").status_code == 202
        terminal.read_until(b"cleared")
        assert b"^[]0;title^G^[[2Jcleared" in terminal.seen and b"\x1b" not in terminal.seen
        terminal.type(ending)
        assert terminal.exit_status() == 0
        assert b"Traceback" not in terminal.seen and b"error" not in terminal.seen


def test_the_cli_sends_piped_lines_and_prints_the_answers_until_bye(server, console):
    sid, device = console
    items = [f"P{n:03d}-{'x' * 40}" for n in range(40)]  # 2 KiB: four times the receive buffer
    piped = "".join(f"echo {item}\n" for item in items) + "echo hi\nadd 2 40\nbye"  # no "\n" at the end
    result = console_cli(server, sid, "--server", server.url, "--quiet", "3", "--timeout", "50",
                         stdin=piped.encode(), timeout=70)
    output = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert re.findall(r"P\d{3}-x+", output) == items
    assert re.search(r"(?m)^(> )?hi\n> 42\n> bye\n$", output), output[-300:]
    device.wait_for("console: DONE pass=4 fail=0", timeout=20)
    assert "line(s) answered" in device.output.text
