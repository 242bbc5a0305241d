"""bench/channels.py at a small scale: real server, device, HTTPS server and MQTT broker; the JSON's shape."""

from __future__ import annotations

import json
import subprocess
import sys

from ..conftest import ROOT, _require_toolchain


def _positive(figures: dict, *keys: str) -> None:
    for key in keys:
        assert figures[key] > 0, (key, figures)


def test_the_channels_benchmark_prints_its_figures(tmp_path):
    _require_toolchain()
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "channels.py"), "--requests", "3", "--messages", "5",
         "--quiet-ms", "100", "--timeout", "60", "--build", str(tmp_path / "build")],
        capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    http = figures["http"]
    assert http["requests"] == 3 and http["resource_bytes"] > 0
    device = http["device"]
    _positive(device, "round_trips_per_s", "busy_round_trips_per_s", "server_arrivals_per_s",
              "open_to_server_p50_ms", "server_to_closed_p50_ms", "device_clock_p50_ms")
    assert device["rate_limited_opens"] >= 0
    for kind in (device, http["direct_fresh"], http["direct_kept_alive"]):
        spread = kind["latency_ms"]
        assert 0 < spread["min"] <= spread["p50"] <= spread["p90"] <= spread["max"], spread
    _positive(http["direct_fresh"], "round_trips_per_s")
    _positive(http["direct_kept_alive"], "round_trips_per_s")
    _positive(http, "device_vs_direct_fresh_latency", "device_vs_direct_kept_alive_latency")
    link = http["link_bytes"]
    _positive(link, "up", "down", "payload_up", "payload_down", "link_bytes_per_exchange",
              "overhead_per_payload_byte", "direct_fresh_overhead_per_payload_byte",
              "direct_kept_alive_overhead_per_payload_byte")
    assert link["up"] + link["down"] > link["payload_up"] + link["payload_down"]
    if figures["mqtt"] is None:
        assert figures["mqtt_note"].startswith("not measured: ")
    else:
        mqtt = figures["mqtt"]
        assert mqtt["messages"] == 5
        for way in ("device_to_broker", "direct"):
            _positive(mqtt[way], "messages_per_s")
        down = mqtt["broker_to_device"]
        assert down["taken"] + down["lost"] + down["neither"] == 5 and down["taken"] > 0, down
        assert down["messages_per_s"] is None or down["messages_per_s"] > 0
        assert down["ended_by_quiet"] == (down["neither"] > 0)
        _positive(mqtt["device_to_broker"], "acknowledged_per_s", "first_message_ms")
        _positive(mqtt, "device_vs_direct_up")
        for phase, payload in (("up_phase", "payload_up"), ("down_phase", "payload_down")):
            _positive(mqtt["link_bytes"][phase], "up", "down", payload, "overhead_per_payload_byte")
    assert figures["method"] and figures["seconds"] > 0
