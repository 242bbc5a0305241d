"""Build the C test applications in tests/device/apps and run one on a device with the kernel."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from microvisor.device.bus import DeviceEvent
from microvisor.device.firmware import load_firmware
from microvisor.device.machine import Device, RunResult
from microvisor.device.state import DeviceState
from microvisor.kernel.microvisor import Microvisor
from tests.conftest import TOOLCHAIN, _require_toolchain

APPS = Path(__file__).resolve().parent / "apps"
_built: dict[str, Path] = {}


def build_apps(tmp_path_factory) -> Path:
    """Build tests/device/apps once per session; returns the build directory (<name>/<name>.elf)."""
    if "dir" not in _built:
        _require_toolchain()
        build = tmp_path_factory.mktemp("device_apps")
        subprocess.run(["cmake", "-S", str(APPS), "-B", str(build),
                        f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN}"], check=True, capture_output=True)
        done = subprocess.run(["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        _built["dir"] = build
    return _built["dir"]


@dataclass
class AppRun:
    """What one run of a test application logged, and why the run ended."""

    result: RunResult
    events: list[DeviceEvent] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return [e.data["text"] for e in self.events if e.source == "log" and e.kind == "line"]

    def failures(self) -> list[str]:
        return [line for line in self.lines if line.startswith("FAIL")]

    def passed(self) -> set[str]:
        return {line.split()[1] for line in self.lines if line.startswith("PASS ")}


def run_app(elf: Path, timeout_s: float = 10.0) -> AppRun:
    """Run `elf` on a fresh device with the kernel until it logs DONE (or crashes, or times out)."""
    state = DeviceState.open(None)
    state.option_bytes.factory_mode = True
    device = Device(state)
    kernel = Microvisor(device)
    events: list[DeviceEvent] = []

    def watch(event: DeviceEvent) -> None:
        events.append(event)
        if event.source == "log" and event.kind == "line" and event.data["text"].startswith("DONE"):
            device.stop("done")

    device.events.subscribe(watch)
    try:
        device.load_firmware(load_firmware(elf))
        return AppRun(device.run(timeout_s=timeout_s), events)
    finally:
        kernel.close()
        device.close()
        state.close()
