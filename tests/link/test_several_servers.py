"""Two server processes, one PostgreSQL database, one broker: they share the device traffic."""

from __future__ import annotations

import json
from pathlib import Path


from .conftest import DeviceRun, wait_until
from .test_link import LINES, SENT, create_device, expected_logs, fetch, logs, wait_up_to_date

DEVICES = 2


def test_two_servers_share_the_traffic_without_loss_or_duplicates(servers, link_apps: dict[str, Path],
                                                                  tmp_path):
    first, second = servers
    wait_until(lambda: "link worker connected" in second.log, 15, "B's link worker to reach A's broker")
    bundle = tmp_path / "v1.zip"
    first.cli("apps", "bundle", str(link_apps["v1"]), str(bundle), "--unsigned", "--layer-size", "8192")
    app = json.loads(first.cli("apps", "create", str(bundle), "--unique-name", "linklog-v1", "--json").stdout)
    sids = [create_device(first if i % 2 == 0 else second, tmp_path / f"dev{i}") for i in range(DEVICES)]
    for sid in sids:  # the app uploaded through A, targeted through B
        second.cli("devices", "update", sid, "--logging", "--target-app", app["sid"])
    devices = [DeviceRun(tmp_path / f"dev{i}", first.env()) for i in range(DEVICES)]
    try:
        for sid in sids:
            wait_up_to_date(first, sid, app)
        for sid in sids:
            wait_until(lambda sid=sid: logs(first, sid)[-1:] == ["linklog v1 done"], 30, f"{sid}'s log lines")
        for sid in sids:
            for server in (first, second):  # both answer REST, from the one database
                found = logs(server, sid)
                assert len(found) == LINES + 2, found
                assert found[0].startswith("linklog v1 start") and found[1:] == expected_logs("1")
                assert fetch(server, sid)["connection"]["connected"]
    finally:
        for device in devices:
            device.stop()
    # Both workers took part: each sent some of the layer chunks the devices asked for.
    for server in (first, second):
        assert any(device in sids for _, _, device in SENT.findall(server.log)), server.log[-3000:]
