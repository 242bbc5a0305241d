"""The 30 channel and network-data calls fuzzed from a C application, offline and against a real server.

The application (apps/channel_fuzz.c) calls them with random handles, pointers, lengths and structures
and checks its own memory; here every call is also watched as the kernel serves it. Offline the
channels never open (the calls meet their checks); with a server they do: requests go out, answers
come back, channels close.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from microvisor.common.mv_abi import MvStatus
from microvisor.device.boot_rom import power_on
from microvisor.device.bus import DeviceEvent
from microvisor.device.firmware import load_firmware
from microvisor.device.machine import Device, RunResult
from microvisor.device.state import BOARD_FILE, Board, DeviceState
from microvisor.kernel.microvisor import Microvisor
from tests import c_apps

from ..link.conftest import Server, running_server
from ..link.test_link import create_device

APPS = Path(__file__).resolve().parent / "apps"
CHANNEL_CALLS = frozenset({
    "mvOpenChannel", "mvCloseChannel", "mvReadChannel", "mvReadChannelComplete", "mvWriteChannel",
    "mvWriteChannelStream", "mvGetChannelClosureReason", "mvSendHttpRequest", "mvReadHttpResponseData",
    "mvReadHttpResponseHeader", "mvReadHttpResponseBody", "mvSendConfigFetchRequest",
    "mvReadConfigFetchResponseData", "mvReadConfigResponseItem", "mvMqttGetNextReadableDataType",
    "mvMqttRequestConnect", "mvMqttReadConnectResponse", "mvMqttRequestSubscribe",
    "mvMqttReadSubscribeResponse", "mvMqttRequestUnsubscribe", "mvMqttReadUnsubscribeResponse",
    "mvMqttRequestPublish", "mvMqttReadPublishResponse", "mvMqttReceiveMessage",
    "mvMqttReceiveLostMessageInfo", "mvMqttAcknowledgeMessage", "mvMqttRequestDisconnect",
    "mvMqttReadDisconnectResponse", "mvSetWifiConfig", "mvGetWifiConfig"})
STATUSES = {int(s) for s in MvStatus}
START = re.compile(r"channel-fuzz: start seed=(\d+) iterations=(\d+) network=(\d+)")
STATUS_LINE = re.compile(r"channel-fuzz: status 0x([0-9a-f]{2}) count (\d+)")
OPENED = re.compile(r"channel-fuzz: opened opaque=(\d+) mqtt=(\d+) http=(\d+) config=(\d+)")
DONE = re.compile(r"channel-fuzz: DONE seed=(\d+) calls=(\d+) invalid=(\d+) canary=(\S+)")


@pytest.fixture(scope="module")
def fuzz_elf(tmp_path_factory) -> Path:
    return c_apps.build(APPS, tmp_path_factory.mktemp("security_apps")) / "channel_fuzz" / "channel_fuzz.elf"


class Watch:
    """Every system call a device serves (name, status) and the first exception a handler raised."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[str, int]] = Counter()
        self.raised: list[str] = []
        self.lines: list[str] = []

    def attach(self, device: Device) -> None:
        table = device.syscalls
        dispatch = table.dispatch

        def watched(dev: Device, address: int) -> int:
            name = table.specs[address].name
            try:
                status = dispatch(dev, address)
            except Exception:
                self.raised.append(f"{name}: {traceback.format_exc()}")
                raise
            self.seen[name, status] += 1
            return status

        table.dispatch = watched

        def on_event(event: DeviceEvent) -> None:
            if event.source == "log" and event.kind == "line":
                self.lines.append(event.data["text"])
                if DONE.match(event.data["text"]):
                    device.stop("until")

        device.events.subscribe(on_event)

    def run(self, device: Device, timeout_s: float) -> RunResult:
        try:
            return device.run(timeout_s=timeout_s)
        except Exception as exc:  # a kernel exception: the device would have died with it
            where = self.raised[-1] if self.raised else traceback.format_exc()
            pytest.fail(f"the kernel raised {exc!r} while fuzzed:\n{where}")

    def calls(self, status: int | None = None) -> Counter[str]:
        found: Counter[str] = Counter()
        for (name, got), count in self.seen.items():
            if status is None or got == status:
                found[name] += count
        return found

    def check_report(self, seed: int, iterations: int) -> None:
        """The application's lines agree with what the kernel served, and say the run was sound."""
        start = next(START.match(line) for line in self.lines if START.match(line))
        assert (int(start[1]), int(start[2])) == (seed, iterations)
        done = DONE.match(self.lines[-1])
        assert done, self.lines[-5:]
        assert done.groups() == (str(seed), str(iterations), "0", "ok"), done[0]
        reported = {int(m[1], 16): int(m[2]) for line in self.lines if (m := STATUS_LINE.match(line))}
        served: Counter[int] = Counter()
        for (name, status), count in self.seen.items():
            if name in CHANNEL_CALLS:
                served[status] += count
        assert reported == dict(served)
        assert sum(served.values()) == iterations
        assert set(served) <= STATUSES
        assert {status for _, status in self.seen} <= STATUSES
        assert self.raised == []


def fuzz_device(path: Path, seed: int, iterations: int) -> None:
    """A Wi-Fi board (so the Wi-Fi calls do their work too) told the seed and the iteration count."""
    Board(radio="wifi").save(path / BOARD_FILE)
    with DeviceState.open(path, create=False) as state:
        state.backup.write(0, seed)
        state.backup.write(1, iterations)


@pytest.mark.parametrize("seed", [20240611, 7])
def test_channel_calls_fuzzed_offline(fuzz_elf, tmp_path, seed):
    iterations = 8000
    path = tmp_path / "dev"
    DeviceState.open(path).close()
    fuzz_device(path, seed, iterations)
    watch = Watch()
    with DeviceState.open(path, create=False) as state:
        device = Device(state)
        kernel = Microvisor(device)
        try:
            watch.attach(device)
            device.load_firmware(load_firmware(fuzz_elf))
            result = watch.run(device, timeout_s=120)
        finally:
            kernel.close()
            device.close()
    assert result.reason == "until", (result, watch.lines[-3:])
    watch.check_report(seed, iterations)
    assert set(watch.calls()) >= CHANNEL_CALLS
    assert min(watch.calls()[name] for name in CHANNEL_CALLS) >= iterations // 60
    # No link: nothing opens, but the calls' own checks are all reached.
    assert watch.calls(MvStatus.OKAY)["mvOpenChannel"] == 0
    assert watch.calls(MvStatus.NETWORKNOTCONNECTED)["mvOpenChannel"] > 0
    assert watch.calls(MvStatus.OKAY)["mvSetWifiConfig"] > 0
    assert watch.calls(MvStatus.OKAY)["mvGetWifiConfig"] > 0


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("fuzz_server")) as server:
        yield server


def test_channel_calls_fuzzed_with_a_real_server(fuzz_elf, fuzz_server, tmp_path, caplog):
    """Channels open through the service's relay; HTTP and configuration requests travel and are answered."""
    server, seed, iterations = fuzz_server, 424242, 4000
    path = tmp_path / "dev"
    sid = create_device(server, path)
    fuzz_device(path, seed, iterations)
    server.cli("devices", "update", sid, "--logging")
    server.cli("deploy", str(fuzz_elf), "--device", sid)
    watch = Watch()
    caplog.set_level(logging.WARNING, logger="microvisor")
    with DeviceState.open(path, create=False) as state:
        for _ in range(3):  # the first boot fetches the application and restarts through the ROM
            device, kernel = power_on(state)
            try:
                device.paced, device.awaits_input = True, True
                watch.attach(device)
                result = watch.run(device, timeout_s=90)
            finally:
                kernel.close()
                device.close()
            if result.reason != "reboot":
                break
    assert result.reason == "until", (result, watch.lines[-3:])
    start = next(START.match(line) for line in watch.lines if START.match(line))
    assert int(start[3]) == 1  # the application fuzzed with its network CONNECTED
    watch.check_report(seed, iterations)
    okay = watch.calls(MvStatus.OKAY)
    opened = next(OPENED.match(line) for line in watch.lines if OPENED.match(line))
    assert okay["mvOpenChannel"] >= 4 and all(int(count) >= 1 for count in opened.groups()), opened[0]
    assert okay["mvSendHttpRequest"] + okay["mvSendConfigFetchRequest"] >= 1
    assert okay["mvWriteChannel"] + okay["mvWriteChannelStream"] >= 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    # What the device sent the service was hostile too: answered, never a traceback or an error.
    errors = re.findall(r"^ERROR .*", server.log, re.MULTILINE)
    assert "Traceback" not in server.log and errors == [], server.log[-3000:]
