"""bench/fleet.py at a small scale: a real server and broker, three registered headless devices."""

from __future__ import annotations

import json
import subprocess
import sys

from ..conftest import ROOT


def test_the_fleet_benchmark_prints_its_figures(examples):
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fleet.py"), "--devices", "3", "--lines", "5", "--workers", "2",
         "--app", str(examples / "blinky" / "blinky.elf"), "--timeout", "60"],
        capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["devices"] == 3 and figures["workers"] == 2
    assert figures["logs"]["lines"] == 15 and figures["logs"]["lines_per_s"] > 0
    for phase in ("connect", "update"):
        spread = figures[phase]
        assert 0 < spread["p50_s"] <= spread["p95_s"] <= spread["max_s"], spread
        assert spread["all_s"] > 0
    assert figures["update"]["target_requests_s"] > 0 and figures["update"]["app_bytes"] > 0
    assert figures["memory"]["server_peak_mib"] > 0 and figures["memory"]["broker_peak_mib"] > 0
