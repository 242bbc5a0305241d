"""The device link end to end: real server and broker, real device processes, no mocks."""

from __future__ import annotations

import json
import re
import signal
import ssl
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from microvisor.common import crash_report, keys
from microvisor.common.bundle import Bundle
from microvisor.common.platform import Platform
from microvisor.device.identity import read_identity
from microvisor.device.state import DeviceState
from microvisor.kernel.storage import KernelStorage

from ..conftest import CLI
from .conftest import DeviceRun, Server, wait_until

LINES = 200  # what linklog logs between its "start" and "done" lines
WINDOW = 16  # chunks a device asks for at once (kernel/fota.py)
SENT = re.compile(r"sent (?:layer|patch) (\w+) chunks (\S+) to (UV\w+)")


def create_device(server: Server, folder: Path) -> str:
    result = server.cli("device", "create", str(folder), "--server", server.url)
    return re.search(r"device (UV[0-9a-f]{32})", result.stdout).group(1)


def fetch(server: Server, sid: str) -> dict:
    with server.api() as api:
        return api.get(f"/v1/Devices/{sid}")


def logs(server: Server, sid: str) -> list[str]:
    with server.api() as api:
        return [line["text"] for line in api.pages(f"/v1/Devices/{sid}/Logs", "logs", page_size=1000)]


def expected_logs(version: str) -> list[str]:
    name = f"linklog v{version}"
    return [f"{name} line {i}" for i in range(LINES)] + [f"{name} done"]


def wait_up_to_date(server: Server, sid: str, app: dict, timeout: float = 45) -> dict:
    def done() -> dict | None:
        row = fetch(server, sid)
        assert row["app"]["update_status"] != "error", row
        status, reported = row["app"]["update_status"], row["app"]["reported_sid"]
        return row if status == "up-to-date" and reported == app["sid"] else None
    return wait_until(done, timeout, f"device {sid} to report app {app['sid']}")


def chunks_sent(server: Server, sid: str) -> dict[str, int]:
    """Layer hash prefix -> how many chunks the server sent this device."""
    counts: dict[str, int] = {}
    for layer, ranges, device in SENT.findall(server.log):
        if device != sid:
            continue
        for part in ranges.split(","):
            first, _, last = part.partition("-")
            counts[layer] = counts.get(layer, 0) + int(last or first) - int(first) + 1
    return counts


def test_logs_arrive_complete_and_in_order(server, apps, tmp_path):
    sid = create_device(server, tmp_path / "dev")
    server.cli("devices", "update", sid, "--logging", "--target-app", apps["v1"]["sid"])
    device = DeviceRun(tmp_path / "dev", server.env())
    try:
        wait_up_to_date(server, sid, apps["v1"])
        wait_until(lambda: len(logs(server, sid)) >= LINES + 2, 30, "every log line at the service")
        found = logs(server, sid)
        assert found[0].startswith("linklog v1 start") and found[1:] == expected_logs("1")
        assert fetch(server, sid)["connection"]["connected"]
        # A restart the service queues reaches the device: the app starts over and logs again.
        server.cli("devices", "update", sid, "--restart-app")
        wait_until(lambda: len(logs(server, sid)) >= 2 * (LINES + 2), 30, "the restarted app's lines")
        assert logs(server, sid)[LINES + 2:][1:] == expected_logs("1")
    finally:
        device.stop()
    wait_until(lambda: not fetch(server, sid)["connection"]["connected"], 15, "the device to go offline")


def _client(server: Server, client_id: str, certificate: str, key: str, ca: str,
            username: str | None = None) -> tuple[mqtt.Client, list]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=ca)
    folder = server.home / client_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cert.pem").write_text(certificate)
    (folder / "key.pem").write_text(key)
    context.load_cert_chain(str(folder / "cert.pem"), str(folder / "key.pem"))
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.tls_set_context(context)
    client.username_pw_set(username or client_id)
    received: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def on_message(_c, _u, message):
        with lock:
            received.append((message.topic, bytes(message.payload)))

    client.on_message = on_message
    client.connect("127.0.0.1", server.broker_port)
    client.loop_start()
    return client, received


def test_a_device_certificate_reaches_only_its_own_subtree(server, tmp_path):
    own, other = create_device(server, tmp_path / "a"), create_device(server, tmp_path / "b")
    with DeviceState.open(tmp_path / "a", create=False) as state:
        identity = read_identity(state)
    broker = server.data / "broker"
    service, seen = _client(server, "microvisor-service-test-view", (broker / "service.pem").read_text(),
                            (broker / "service-key.pem").read_text(), identity.ca_pem, "microvisor-service")
    device, received = _client(server, own, identity.certificate_pem, identity.key_pem, identity.ca_pem)
    try:
        service.subscribe(f"mv/{other}/#", qos=1)
        service.subscribe(f"mv/{own}/up/probe", qos=1)
        device.subscribe(f"mv/{other}/#", qos=1)
        device.subscribe("mv/#", qos=1)
        device.subscribe(f"mv/{own}/down/#", qos=1)
        time.sleep(0.5)  # let the subscriptions settle
        device.publish(f"mv/{other}/up/logs", b'{"boot":"x","first":0,"lines":["forged"],"dropped":0}', qos=1)
        device.publish(f"mv/{own}/down/time", b'{"unix_us":0}', qos=1)
        service.publish(f"mv/{other}/down/time", b'{"unix_us":1}', qos=1)
        service.publish(f"mv/{own}/down/time", b'{"unix_us":2}', qos=1)
        device.publish(f"mv/{own}/up/probe", b"mine", qos=1)  # a control: this one may pass
        wait_until(lambda: (f"mv/{own}/up/probe", b"mine") in seen, 10, "the device's own message")
        wait_until(lambda: (f"mv/{own}/down/time", b'{"unix_us":2}') in received, 10, "the device's own down")
        time.sleep(0.5)
        assert [topic for topic, _ in received if other in topic] == []
        assert set(received) == {(f"mv/{own}/down/time", b'{"unix_us":2}')}
        assert [topic for topic, _ in seen if topic.startswith(f"mv/{other}/up")] == []
        assert logs(server, other) == []
    finally:
        for client in (service, device):
            client.disconnect()
            client.loop_stop()
    # A certificate from another CA does not get past TLS.
    stranger = Platform.init(tmp_path / "stranger")
    key = keys.generate()
    try:
        intruder, _ = _client(server, own, stranger.issue_certificate(own, key.public_key()).decode(),
                              keys.private_pem(key).decode(), identity.ca_pem)
    except (ssl.SSLError, OSError):
        pass
    else:
        time.sleep(1)
        connected = intruder.is_connected()
        intruder.loop_stop()
        assert not connected


def test_v1_to_v2_fetches_only_a_patch_for_the_changed_layer(server, apps, tmp_path):
    v1, v2 = Bundle.read(apps["v1"]["bundle"]), Bundle.read(apps["v2"]["bundle"])
    changed = sorted(set(v2.layers) - set(v1.layers))
    assert len(changed) == 1 and len(v2.layers) > 4
    sid = create_device(server, tmp_path / "dev")
    server.cli("devices", "update", sid, "--logging", "--target-app", apps["v1"]["sid"])
    device = DeviceRun(tmp_path / "dev", server.env())
    try:
        wait_up_to_date(server, sid, apps["v1"])
        before = chunks_sent(server, sid)
        assert len(before) == len(v1.layers)
        server.cli("devices", "update", sid, "--target-app", apps["v2"]["sid"])
        wait_up_to_date(server, sid, apps["v2"])
        device.wait_for("linklog v2 done")
        after = chunks_sent(server, sid)
        fetched = {blob for blob in after if after[blob] != before.get(blob, 0)}
        assert len(fetched) == 1 and fetched != {changed[0][:12]}  # a patch (common/delta.py), not the layer
        assert after[fetched.pop()] == 1 and "sent patch" in server.log
        assert f"fetching 1 of {len(v2.layers)} layers" in device.output.text
        assert "1 as patches" in device.output.text
        wait_until(lambda: logs(server, sid)[-1:] == ["linklog v2 done"], 20, "v2's log lines")
    finally:
        device.stop()


def test_an_offline_device_catches_up(server, apps, tmp_path):
    sid = create_device(server, tmp_path / "dev")
    # Targeted while it never connected, then again while it is off after running v1.
    server.cli("devices", "update", sid, "--logging", "--target-app", apps["v1"]["sid"])
    assert fetch(server, sid)["app"]["update_status"] == "pending"
    device = DeviceRun(tmp_path / "dev", server.env())
    try:
        wait_up_to_date(server, sid, apps["v1"])
        wait_until(lambda: logs(server, sid)[-1:] == ["linklog v1 done"], 20, "v1's log lines")
    finally:
        device.stop()
    wait_until(lambda: not fetch(server, sid)["connection"]["connected"], 15, "the device to go offline")
    server.cli("devices", "update", sid, "--target-app", apps["v2"]["sid"])
    assert fetch(server, sid)["app"]["update_status"] == "pending"
    device = DeviceRun(tmp_path / "dev", server.env())
    try:
        row = wait_up_to_date(server, sid, apps["v2"])
        assert row["connection"]["connected"]
        wait_until(lambda: logs(server, sid)[-1:] == ["linklog v2 done"], 20, "v2's log lines")
    finally:
        device.stop()


def test_a_link_cut_mid_download_resumes(server, apps, tmp_path):
    big = Bundle.read(apps["big"]["bundle"])
    total_bytes = sum(len(data) for data in big.layers.values())
    total_chunks = sum(-(-len(data) // 4096) for data in big.layers.values())
    sid = create_device(server, tmp_path / "dev")
    server.cli("devices", "update", sid, "--target-app", apps["big"]["sid"])
    server.proxy.rate = 200_000
    start = server.proxy.down_bytes
    device = DeviceRun(tmp_path / "dev", server.env())
    try:
        wait_until(lambda: server.proxy.down_bytes - start > total_bytes // 4, 30, "a quarter of it")
        server.proxy.cut(hold_s=1.0)
        connected = f"device {sid} connected"
        # The device comes back by itself and carries on where it was.
        wait_until(lambda: server.log.count(connected) >= 2, 30, "the device to reconnect")
        wait_until(lambda: server.proxy.down_bytes - start > total_bytes // 2, 30, "half of the download")
        assert "staged" not in device.output.text
        # Then the power goes: the next power-on resumes from what QSPI holds.
        device.stop(signal.SIGKILL)
        time.sleep(0.5)  # requests made before the power went are still served
        sent_before = sum(chunks_sent(server, sid).values())
        assert sent_before < total_chunks
        device = DeviceRun(tmp_path / "dev", server.env())
        server.proxy.rate = None
        wait_up_to_date(server, sid, apps["big"], timeout=60)
        stored = re.findall(r"(\d+) stored already", device.output.text)
        assert stored and int(stored[0]) > 0, device.output.text[-2000:]
        # After the power cut only what QSPI lacked was fetched; over both cuts, nothing stored came
        # twice: only chunks in flight at a cut (at most a window each) were sent again.
        assert sum(chunks_sent(server, sid).values()) - sent_before <= total_chunks - int(stored[0]) + WINDOW
        assert sum(chunks_sent(server, sid).values()) <= total_chunks + 3 * WINDOW
    finally:
        server.proxy.rate = None
        device.stop()


def test_crash_reports_reach_the_service_and_leave_the_device(server, examples, tmp_path):
    bundle = tmp_path / "fault.zip"
    server.cli("apps", "bundle", str(examples / "fault" / "fault.elf"), str(bundle), "--unsigned")
    app = json.loads(server.cli("apps", "create", str(bundle), "--json").stdout)
    sid = create_device(server, tmp_path / "dev")
    server.cli("devices", "update", sid, "--target-app", app["sid"])
    device = subprocess.Popen([str(CLI), "device", "run", str(tmp_path / "dev"), "--keep-running"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=server.env())
    try:
        def crashes() -> list[dict]:
            with server.api() as api:
                return [e for e in api.pages(f"/v1/Devices/{sid}/Events", "events") if e["type"] == "crash"]

        # Each report is acknowledged and removed before the next goes: several arrive one by one.
        found = wait_until(lambda: len(crashes()) >= 3 and crashes(), 45, "crash reports at the service")
        details = found[0]["details"]
        assert details["kind"] == "fault" and details["device"] == sid
        assert details["causes"] and details["pc"]
    finally:
        device.send_signal(signal.SIGINT)
        device.wait(timeout=15)
    delivered = {event["details"]["uptime_us"] for event in crashes()}
    with DeviceState.open(tmp_path / "dev", create=False) as state:
        kept = {crash_report.decode(blob)["uptime_us"] for blob in KernelStorage(state).crash_reports()}
    assert len(delivered) == len(crashes())
    assert len(kept & delivered) <= 1  # only one in flight when the power went can be in both
