"""`microvisor deploy`: from a built ELF to a device running it, with a real server, broker and device."""

from __future__ import annotations

import json
import signal
import subprocess

from ..conftest import CLI
from .conftest import DeviceRun, Lines, Server, wait_until
from .test_link import create_device, fetch, logs


def deploy(server: Server, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "deploy", *args], capture_output=True, text=True, timeout=timeout,
                          env=server.env(), check=False)


def test_deploy_takes_an_elf_to_a_device_running_it_then_follows_the_new_apps_logs(
        server, link_apps, tmp_path):
    sid = create_device(server, tmp_path / "dev")
    device = DeviceRun(tmp_path / "dev", server.env())
    try:
        done = deploy(server, str(link_apps["v1"]), "--device", sid, "--wait", "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        app, row = result["app"], result["devices"][0]
        assert row["sid"] == sid and row["app"]["update_status"] == "up-to-date"
        assert row["app"]["reported_sid"] == app["sid"] == fetch(server, sid)["app"]["target_sid"]
        assert not fetch(server, sid)["logging"]["enabled"]

        # v2, following its logs from the moment of the deploy (--logs turns logging on): every line
        # of the new app arrives.
        follow = subprocess.Popen([str(CLI), "deploy", str(link_apps["v2"]), "--device", sid, "--logs"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=server.env())
        output = Lines(follow.stdout)
        try:
            wait_until(lambda: "linklog v2 done" in output.text or follow.poll() is not None, 90,
                       "v2's last line from deploy --logs")
            assert "linklog v2 done" in output.text, output.text[-2000:]
        finally:
            follow.send_signal(signal.SIGINT)
            follow.wait(timeout=20)
        assert follow.returncode == 0, follow.stderr.read()
        text = output.text
        assert "uploaded: app" in text and f"{sid}: up-to-date" in text
        assert all(f"linklog v2 line {i}" in text for i in range(200))
        assert logs(server, sid)[-1:] == ["linklog v2 done"]
    finally:
        device.stop()


def test_deploy_refuses_what_it_cannot_do_in_one_sentence_before_uploading(server, link_apps, tmp_path):
    with server.api() as api:
        before = len(list(api.pages("/v1/Apps", "apps")))
    unknown = deploy(server, str(link_apps["v1"]), "--device", "no-such-device")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1, unknown.stderr
    two = deploy(server, str(link_apps["v1"]), "--device", "a", "--device", "b", "--logs")
    assert two.returncode == 2 and "one --device" in two.stderr
    missing = deploy(server, str(tmp_path / "missing.elf"), "--device", "a")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    with server.api() as api:
        assert len(list(api.pages("/v1/Apps", "apps"))) == before  # nothing uploaded
