"""bench/deltas.py at a small scale: the generated app built with the SDK, patches made and applied."""

from __future__ import annotations

import json
import subprocess
import sys

from ..conftest import ROOT, _require_toolchain


def test_the_delta_benchmark_prints_its_figures(tmp_path):
    _require_toolchain()
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "deltas.py"), "--functions", "120",
                             "--build", str(tmp_path)], capture_output=True, text=True, timeout=180,
                            check=False)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for version in ("one_function", "code_moved"):
        found = figures[version]
        assert found["layers_default"]["bytes"] == found["image_bytes"] > 10_000  # one layer: all of it
        assert 0 < found["patch"]["bytes"] < found["layers_8k"]["bytes"] <= found["image_bytes"]
        assert 0 < found["bsdiff4"]["bytes"] < found["image_bytes"] // 10
    assert figures["one_function"]["layers_8k"]["bytes"] <= 8192 < figures["code_moved"]["layers_8k"]["bytes"]
