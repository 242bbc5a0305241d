"""Faults: a killed broker is restarted without losing or doubling a log line, or the server stops and
says why; a log batch sent again is stored once across server processes and restarts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from microvisor.common import link as wire
from microvisor.device.boot_rom import BootRom
from microvisor.device.headless import HeadlessDevice
from microvisor.device.state import DeviceState

from ..link.conftest import Server, running_server, wait_until
from ..link.test_link import create_device, fetch, logs
from ..link.conftest import servers  # noqa: F401  (a fixture)
from .conftest import Tenant, connect, register, settle


@pytest.fixture
def own_server(tmp_path) -> Iterator[Server]:
    """A server of the test's own: its broker gets killed."""
    with running_server(tmp_path) as running:
        yield running


def broker_pid(server: Server) -> int:
    """The server's Mosquitto: a child process of one of its threads."""
    children = []
    for task in Path(f"/proc/{server.process.pid}/task").iterdir():
        children += (task / "children").read_text().split()
    found = [int(pid) for pid in children if "mosquitto" in Path(f"/proc/{pid}/cmdline").read_text()]
    assert len(found) == 1, found
    return found[0]


class HostedDevice:
    """A registered device's real kernel (ROM-verified, its own link) on a CPU-less device, in a thread;
    the test plays the application by logging lines."""

    def __init__(self, folder: Path):
        self.state = DeviceState.open(folder, create=False)
        package, report = BootRom(self.state).boot()
        self.device = HeadlessDevice(self.state)
        self.kernel = package.boot(self.device, report)
        self.thread = threading.Thread(target=self.device.run, daemon=True)
        self.thread.start()

    def log(self, text: str) -> None:
        self.device.post(lambda: self.kernel.log(text))

    def close(self) -> None:
        self.device.stop()
        self.thread.join(timeout=10)
        self.kernel.close()
        self.device.close()
        self.state.close()


def test_a_killed_broker_is_restarted_and_no_log_line_is_lost_or_doubled(own_server, tmp_path):
    sid = create_device(own_server, tmp_path / "dev")
    own_server.cli("devices", "update", sid, "--logging")
    device = HostedDevice(tmp_path / "dev")
    try:
        wait_until(lambda: fetch(own_server, sid)["connection"]["connected"], 20, "the device to connect")
        for n in range(100):
            device.log(f"line {n}")
        wait_until(lambda: len(logs(own_server, sid)) >= 100, 30, "the lines logged before the kill")
        first = broker_pid(own_server)
        os.kill(first, signal.SIGKILL)
        for n in range(100, 200):  # while the broker is down or coming back
            device.log(f"line {n}")
        wait_until(lambda: "is back" in own_server.log, 20, "the server to restart its broker")
        assert broker_pid(own_server) != first
        for n in range(200, 300):
            device.log(f"line {n}")
        wait_until(lambda: len(logs(own_server, sid)) >= 300, 60, "every line at the service")
        settle(2)
        assert logs(own_server, sid) == [f"line {n}" for n in range(300)]
    finally:
        device.close()
    restarted = r"the device broker on \S+ died \(killed by SIGKILL\); starting it again"
    assert re.search(restarted, own_server.log)
    assert own_server.process.poll() is None


def test_a_broker_that_cannot_come_back_stops_the_server_with_the_reason(own_server):
    (own_server.data / "broker" / "mosquitto.conf").write_text("not_an_option at all\n")
    os.kill(broker_pid(own_server), signal.SIGKILL)
    try:
        code = own_server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the server went on without its broker")
    assert code == 1
    wait_until(lambda: "error: the service stopped" in own_server.log, 5, "the server's last words")
    last = [line for line in own_server.log.splitlines() if line.startswith("error:")]
    assert len(last) == 1
    assert "the device broker died (killed by SIGKILL) and cannot be started again" in last[0]
    assert "Traceback" not in own_server.log


def test_a_log_batch_sent_again_is_stored_once_across_servers(servers, tmp_path):  # noqa: F811
    first, second = servers
    wait_until(lambda: "link worker connected" in second.log, 15, "B's link worker to reach A's broker")
    device = register(Tenant(first, *first.credentials))
    peer = connect(first.broker_port, device, tmp_path)
    try:
        batches = [{"boot": "b1", "first": 2 * n, "lines": [f"line {2 * n}", f"line {2 * n + 1}"],
                    "dropped": 0} for n in range(10)]
        # Each batch again and again, as a device does until it is acknowledged; the broker hands the
        # copies to both server processes in turn.
        for _ in range(5):
            for batch in batches:
                peer.send(wire.LOGS, batch)
        wait_until(lambda: len(logs(first, device.sid)) >= 20, 20, "the lines at the service")
        settle(2)
        # Once each (in the order they were stored: the processes raced each other to store them).
        assert sorted(logs(first, device.sid), key=_number) == [f"line {n}" for n in range(20)]
    finally:
        peer.close()
    # And after a restart, a batch from before is still known.
    second.stop()
    first.stop()
    first.start()
    peer = connect(first.broker_port, device, tmp_path)
    try:
        peer.send(wire.LOGS, batches[3])
        peer.send(wire.LOGS, {"boot": "b1", "first": 20, "lines": ["line 20"], "dropped": 0})
        wait_until(lambda: len(logs(first, device.sid)) >= 21, 20, "the new line")
        settle()
        assert sorted(logs(first, device.sid), key=_number) == [f"line {n}" for n in range(21)]
    finally:
        peer.close()


def _number(line: str) -> int:
    return int(line.split()[-1])
