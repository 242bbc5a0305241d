"""`make demo`'s script end to end: a real server, two device processes, blinky v1 then v2 over the air."""

from __future__ import annotations

import re
import subprocess
import sys

from ..conftest import CLI, ROOT

SENT = re.compile(r"(UV[0-9a-f]{32})\s+v2: ([\d,]+) bytes sent of ([\d,]+) \(full image\)")


def test_the_demo_deploys_v1_then_v2_to_two_devices(examples):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--examples", str(examples),
                             "--cli", str(CLI)], capture_output=True, text=True, timeout=110)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert output.count("LED on") >= 2 and "LED on (v2)" in output
    sent = SENT.findall(output)
    assert len({sid for sid, _, _ in sent}) == 2, output[-4000:]
    for _, bytes_sent, full in sent:
        assert 0 < int(bytes_sent.replace(",", "")) and 0 < int(full.replace(",", ""))
    listed = output[output.rindex("$ microvisor devices list"):]
    assert listed.count("up-to-date") == 2
    assert "demo done" in output
