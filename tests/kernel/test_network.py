"""The network calls, driven by a C application; the host plays the link going up and down."""

from __future__ import annotations

import re


def test_network_calls_behave_as_published(kernel_apps, device_run):
    def on_line(run, text: str) -> None:
        network = run.kernel.network
        if text == "net: up":
            network.configured = True
            network.link_changed(True)
        elif text == "net: down":
            network.link_changed(False)

    run = device_run(kernel_apps / "network" / "network.elf", on_line=on_line)
    run.run()
    assert run.failures() == []
    assert re.fullmatch(r"DONE pass=\d+ fail=0", run.lines[-1])
    assert {"reasons/never-used", "request/version", "request", "status/no-broker", "reasons/using-network",
            "notify/up", "status/connected", "notify/down", "status/connecting", "release/zeroed",
            "release/again", "reasons/none-held"} <= run.passed()
