"""`microvisor deployments`: staged rollouts with a real server, broker and two devices: one that completes,
one that halts on the crashes of its first stage and is rolled back."""

from __future__ import annotations

import json
import subprocess

from ..conftest import CLI
from .conftest import DeviceRun, Server, wait_until
from .test_link import create_device, fetch


def _upload(server: Server, elf, name: str, tmp_path, *options: str) -> dict:
    bundle = tmp_path / f"{name}.zip"
    server.cli("apps", "bundle", str(elf), str(bundle), "--unsigned", *options)
    return json.loads(server.cli("apps", "create", str(bundle), "--unique-name", name, "--json").stdout)


def _deploy(server: Server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "deployments", "create", *args, "--json"], capture_output=True,
                          text=True, timeout=120, env=server.env(), check=False)


def test_a_rollout_completes_then_one_halts_on_crashes_and_rolls_back(server, link_apps, examples, tmp_path):
    # The good app would hold an update back for an hour; the deployments below are --forced.
    good = _upload(server, link_apps["v1"], "rollout-good", tmp_path, "--maximum-politeness-time", "3600")
    bad = _upload(server, examples / "fault" / "fault.elf", "rollout-fault", tmp_path)
    sids = [create_device(server, tmp_path / f"dev{n}") for n in range(2)]
    devices = [DeviceRun(tmp_path / f"dev{n}", server.env(), "--keep-running") for n in range(2)]
    try:
        # Both devices, in two stages, each stage soaking 1 s; --wait follows it to the end.
        done = _deploy(server, "rollout-good", "--devices", ",".join(sids), "--stages", "50,100",
                       "--soak", "1", "--forced", "--wait")
        assert done.returncode == 0, done.stdout + done.stderr
        first = json.loads(done.stdout)
        assert first["status"] == "completed" and first["devices"]["updated"] == 2
        assert first["politeness_seconds"] == 0
        for sid in sids:
            assert fetch(server, sid)["app"]["reported_sid"] == good["sid"]

        # The crashing app, forced past the good app's politeness time: the first stage's device crashes
        # on it, so the second never gets it.
        halted = _deploy(server, "rollout-fault", "--devices", sids[0], "--devices", sids[1], "--stages",
                         "50,100", "--soak", "60", "--halt-on-crash-rate", "0.4", "--forced", "--wait")
        assert halted.returncode == 1, halted.stdout + halted.stderr
        second = json.loads(halted.stdout)
        assert second["status"] == "halted" and "crashed on the new version" in second["halt_reason"]
        assert second["devices_crashed"] == 1 and second["devices"]["waiting"] == 1
        assert fetch(server, sids[1])["app"]["target_sid"] == good["sid"]
        with server.api() as api:
            crashes = list(api.pages("/v1/Crashes", "crashes", App=bad["sid"]))
        assert crashes and {crash["device_sid"] for crash in crashes} == {sids[0]}

        shown = server.cli("deployments", "show", second["sid"]).stdout
        assert "halted" in shown and sids[0] in shown and "waiting" in shown
        rolled = json.loads(server.cli("deployments", "rollback", second["sid"], "--json").stdout)
        assert rolled["status"] == "rolled-back"
        wait_until(lambda: fetch(server, sids[0])["app"]["reported_sid"] == good["sid"], 60,
                   "the first device to run the good app again")
        assert fetch(server, sids[1])["app"]["reported_sid"] == good["sid"]  # never left it
        listed = json.loads(server.cli("deployments", "list", "--json").stdout)
        assert [(row["sid"], row["status"]) for row in listed] == [(first["sid"], "completed"),
                                                                   (second["sid"], "rolled-back")]
        refused = subprocess.run([str(CLI), "deployments", "resume", second["sid"]], capture_output=True,
                                 text=True, env=server.env(), timeout=60, check=False)
        assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    finally:
        for device in devices:
            device.stop()
