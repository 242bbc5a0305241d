"""The link keeps tenants and devices apart: what one device, holding its own valid certificate, can reach."""

from __future__ import annotations

import json
import time

from microvisor.common import link as wire

from ..link.conftest import wait_until
from ..link.test_link import logs
from .conftest import connect, register, settle, target, upload_app

REFUSED = 0x80  # SUBACK reason codes from here up are failures


def test_a_device_cannot_fetch_another_accounts_layers(server, tenants, tmp_path):
    first, second = tenants
    victim_app = upload_app(first)
    victim = register(first)
    target(first, victim.sid, victim_app)
    attacker = register(second)
    own_app = upload_app(second)
    target(second, attacker.sid, own_app)
    peer = connect(server.broker_port, attacker, tmp_path)
    try:
        assert peer.subscribe(wire.device_filter(attacker.sid)) == [1]
        stolen = victim_app["layers"][0]
        peer.send(wire.FETCH, {"layer": stolen, "chunks": [0, 1]})
        # A control: the layer of its own target comes.
        mine = own_app["layers"][0]
        peer.send(wire.FETCH, {"layer": mine, "chunks": [0]})
        mine_0 = wire.chunk_topic(attacker.sid, mine, 0)
        wait_until(lambda: peer.received(mine_0), 10, "its own layer's chunk")
        settle()
        assert peer.received(f"mv/{attacker.sid}/down/chunk/{stolen}") == []
    finally:
        peer.close()
    assert "not in the app the service targets at it" in server.log


def test_subscriptions_outside_a_devices_own_subtree_are_refused(server, tenants, tmp_path):
    first, _ = tenants
    rogue, honest = register(first), register(first)
    app = upload_app(first)
    target(first, honest.sid, app)
    peer = connect(server.broker_port, rogue, tmp_path / "rogue")
    sender = connect(server.broker_port, honest, tmp_path / "honest")
    try:
        codes = peer.subscribe("$share/microvisor/mv/+/up/#", "#", "mv/+/up/#", f"mv/{honest.sid}/down/#",
                               f"mv/{rogue.sid}/up/#", "$share/microvisor/#", wire.device_filter(rogue.sid))
        assert all(code >= REFUSED for code in codes[:-1]), codes
        assert codes[-1] < REFUSED  # its own down/ subtree stays allowed
        # The service loses nothing: every batch the honest device sends is stored.
        for batch in range(20):
            sender.send(wire.LOGS, {"boot": "b1", "first": batch, "lines": [f"batch {batch}"], "dropped": 0})
        wait_until(lambda: len(logs(server, honest.sid)) == 20, 20, "all 20 batches at the service")
        settle()
        assert sorted(logs(server, honest.sid)) == sorted(f"batch {n}" for n in range(20))
        assert peer.received() == []
    finally:
        peer.close()
        sender.close()


def test_a_client_id_that_is_not_the_certificates_own_is_refused_without_touching_the_victim(
        server, tenants, tmp_path):
    first, second = tenants
    victim, attacker = register(first), register(second)
    held = connect(server.broker_port, victim, tmp_path / "victim")
    try:
        assert held.connack == ["Success"]
        for username in (attacker.sid, victim.sid):  # its own name, or the victim's too
            intruder = connect(server.broker_port, attacker, tmp_path / "attacker", client_id=victim.sid,
                               username=username)
            intruder.client.loop_stop()
            assert intruder.connack and intruder.connack[0] != "Success", intruder.connack
        impostor = connect(server.broker_port, attacker, tmp_path / "attacker", username=victim.sid)
        impostor.client.loop_stop()
        assert impostor.connack[0] != "Success"
        settle()
        assert held.disconnects == [] and held.client.is_connected()
    finally:
        held.close()


def test_a_device_cannot_pull_a_layer_faster_than_its_limit(server, tenants, tmp_path):
    first, _ = tenants
    device = register(first)
    app = upload_app(first, size=131_072)
    target(first, device.sid, app)
    layer = app["layers"][0]
    chunks = list(range(16))
    peer = connect(server.broker_port, device, tmp_path)
    try:
        peer.subscribe(wire.device_filter(device.sid))
        started = time.monotonic()
        while time.monotonic() - started < 4:  # the same chunks, over and over
            peer.send(wire.FETCH, {"layer": layer, "chunks": chunks})
            time.sleep(0.02)
        elapsed = time.monotonic() - started
        settle(1.5)
        received = sum(len(payload) for _, payload in peer.received(f"mv/{device.sid}/down/chunk/"))
        answers = peer.received(wire.down(device.sid, wire.SLOW_DOWN))
        slow_downs = [json.loads(payload) for _, payload in answers]
    finally:
        peer.close()
    rate, burst = 128 * 1024, 256 * 1024  # the documented defaults (cloud/fetch_budget.py)
    assert received <= burst + rate * (elapsed + 1.5) + 16 * 4096, received
    assert slow_downs and all(message["retry_after_ms"] > 0 and message["reason"] for message in slow_downs)
    assert slow_downs[0]["layer"] == layer


def test_malformed_messages_are_dropped_with_a_warning_and_the_worker_goes_on(server, tenants, tmp_path):
    device = register(tenants[0])
    peer = connect(server.broker_port, device, tmp_path)
    try:
        for kind, message in ((wire.HELLO, {"kernel": 5}), (wire.CRASH, {"id": 1, "report": "%%%"}),
                              (wire.UPDATE, {"state": "failed", "error_code": "many"}),
                              (wire.FETCH, {"layer": "00" * 32, "chunks": "all"}),
                              (wire.LOGS, {"boot": "b1", "first": -5, "lines": ["x"]}),
                              (wire.LOGS, {"boot": "b1" * 40, "first": 0, "lines": ["x"]}),
                              (wire.LOGS, {"boot": "b1", "first": 0, "lines": ["x"] * 101})):
            peer.send(kind, message)
        peer.client.publish(wire.up(device.sid, wire.LOGS), b"\xff not json", qos=1)
        peer.send(wire.LOGS, {"boot": "b1", "first": 0, "lines": ["still served"], "dropped": 0})
        wait_until(lambda: logs(server, device.sid) == ["still served"], 10, "the good batch after the bad")
    finally:
        peer.close()
    assert "Traceback" not in server.log, server.log[server.log.find("Traceback") - 200:][:1500]
    assert server.log.count(f"link message on mv/{device.sid}/up/") >= 8
