"""Runs the `lifecycle` SDK example on a fresh virtual device with the kernel and reads its log."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from microvisor.common.mv_abi import MvWakeReason
from microvisor.device.bus import DeviceEvent
from microvisor.device.clock import NS_PER_S
from microvisor.device.firmware import load_firmware
from microvisor.device.machine import Device, RunResult
from microvisor.device.peripherals import find
from microvisor.device.state import DeviceState
from microvisor.kernel.microvisor import Microvisor

# The scenarios of sdk/examples/lifecycle/main.c (TAMP BKP0R).
IDLE, CRASH, STANDBY_RTC, STANDBY_PIN, SHUTDOWN_RTC, RESTART, WATCHDOG, POWER_SAVE = range(8)
SYSRESETREQ, CRASH_LATER, BAD_MODES = 8, 9, 10

_BOOT = re.compile(r"lifecycle: boot (\d+) wake (\d+) ram (\w+) sbf (\d) wuf ([0-9a-f]+)")


@dataclass
class Boot:
    """One start of the application, as its first log line tells it."""

    number: int
    wake: MvWakeReason
    ram: str
    sbf: int
    wuf: int
    time_s: float


def crash_policy(**fields: Any) -> SimpleNamespace:
    """An object shaped like AppManifest.AppBody with only its CrashPolicy filled in."""
    crash = {"minimum_restart_ms": 0, "maximum_restart_ms": 0, "crash_report_pubkey": b"",
             "include_stack_bytes": 0}
    crash.update(fields)
    return SimpleNamespace(crash=SimpleNamespace(**crash))


class LifecycleApp:
    """The example on a device of its own, told which scenario to play (BKP0R, argument BKP1R)."""

    def __init__(self, elf: Path, scenario: int, argument: int = 0, app_body: Any = None,
                 stop_on_crash: bool = False):
        self.state = DeviceState.open(None)
        self.device = Device(self.state)
        self.kernel = Microvisor(self.device, stop_on_crash=stop_on_crash)
        self.kernel.app_body = app_body
        self.events: list[DeviceEvent] = []
        self.device.events.subscribe(self.events.append)
        self.device.load_firmware(load_firmware(elf))
        backup = find(self.device.peripherals, "TAMP").backup
        backup.write(0, scenario)
        backup.write(1, argument)

    def run(self, seconds: float) -> RunResult:
        return self.device.run(timeout_s=seconds)

    def lines(self) -> list[str]:
        return [e.data["text"] for e in self.events if e.source == "log" and e.kind == "line"]

    def boots(self) -> list[Boot]:
        found = []
        for event in self.events:
            match = _BOOT.search(event.data.get("text", "")) if event.source == "log" else None
            if match:
                number, wake, ram, sbf, wuf = match.groups()
                found.append(Boot(int(number), MvWakeReason(int(wake)), ram, int(sbf), int(wuf, 16),
                                  event.time_ns / NS_PER_S))
        return found

    def of(self, source: str, kind: str) -> list[DeviceEvent]:
        return [e for e in self.events if e.source == source and e.kind == kind]

    def close(self) -> None:
        self.device.close()
        self.state.close()

    def __enter__(self) -> LifecycleApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
