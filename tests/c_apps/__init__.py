"""C test applications (tests/*/apps): built once per session with the real toolchain, run on a device."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from microvisor.device.bus import DeviceEvent
from microvisor.device.firmware import load_firmware
from microvisor.device.machine import Device, RunResult
from microvisor.device.state import DeviceState
from microvisor.kernel.microvisor import Microvisor
from tests.conftest import TOOLCHAIN, _require_toolchain


def build(apps: Path, out: Path) -> Path:
    """Configure and build the CMake project in `apps` into `out`; returns `out` (<name>/<name>.elf)."""
    _require_toolchain()
    subprocess.run(["cmake", "-S", str(apps), "-B", str(out), f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN}"],
                   check=True, capture_output=True)
    result = subprocess.run(["cmake", "--build", str(out), "-j", str(os.cpu_count() or 2)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out


@dataclass
class Run:
    """A device running one application, with everything it logged and every event it emitted."""

    device: Device
    kernel: Microvisor
    events: list[DeviceEvent] = field(default_factory=list)
    result: RunResult | None = None

    @property
    def lines(self) -> list[str]:
        return [e.data["text"] for e in self.events if e.source == "log" and e.kind == "line"]

    def of(self, source: str, kind: str) -> list[DeviceEvent]:
        return [e for e in self.events if e.source == source and e.kind == kind]

    def failures(self) -> list[str]:
        return [line for line in self.lines if line.startswith("FAIL")]

    def passed(self) -> set[str]:
        return {line.split()[1] for line in self.lines if line.startswith("PASS ")}

    def run(self, timeout_s: float = 10.0) -> RunResult:
        self.result = self.device.run(timeout_s=timeout_s)
        return self.result


def runs() -> Iterator[Callable[..., Run]]:
    """A fixture body: make Runs (fresh throw-away devices with the kernel and an application loaded),
    closed when the test ends.

    `on_line(run, text)` sees every log line as it is logged (on the emulation thread); the run
    stops at the first line starting with `until`.
    """
    opened: list[tuple[Device, Microvisor, DeviceState]] = []

    def make(elf: Path, *, until: str = "DONE", on_line=None, factory_mode: bool = True,
             backup: dict[int, int] | None = None) -> Run:
        state = DeviceState.open(None)
        state.option_bytes.factory_mode = factory_mode
        for index, value in (backup or {}).items():
            state.backup.write(index, value)
        device = Device(state)
        run = Run(device, Microvisor(device))
        opened.append((device, run.kernel, state))

        def watch(event: DeviceEvent) -> None:
            run.events.append(event)
            if event.source == "log" and event.kind == "line":
                if on_line is not None:
                    on_line(run, event.data["text"])
                if event.data["text"].startswith(until):
                    device.stop("until")

        device.events.subscribe(watch)
        device.load_firmware(load_firmware(elf))
        return run

    yield make
    for device, kernel, state in opened:
        kernel.close()
        device.close()
        state.close()
