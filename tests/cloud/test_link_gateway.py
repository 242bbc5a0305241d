"""The store functions the link workers call: connections, logs, reported apps, errors, crashes, commands,
debug messages, patches."""

from __future__ import annotations

import datetime
import os

import pytest
from sqlalchemy import update

from microvisor.cloud.clock import utc_now
from microvisor.cloud.errors import NotFound
from microvisor.cloud.models import LayerDelta
from microvisor.cloud.resources import parse_api_hash
from microvisor.cloud.store import debug_messages
from microvisor.cloud.store.accounts import set_disabled
from microvisor.cloud.store.device_state import device_by_sid
from microvisor.common import delta

from .conftest import app_bundle


def test_connections_and_logs(api, service):
    sid = api.register()["sid"]
    service.link.device_connected(sid, address="10.0.0.7")
    assert api.get(f"/v1/Devices/{sid}").json()["connection"]["connected"] is True
    assert service.link.logs(sid, "b1", 0, [f"line {n}" for n in range(3)]) == 3
    assert service.link.logs(sid, "b1", 1, ["line 1", "line 2"]) == 0  # sent again: stored once
    service.link.device_disconnected(sid, reason="keep-alive timeout")
    device = api.get(f"/v1/Devices/{sid}").json()
    assert device["connection"]["connected"] is False and device["connection"]["date_changed"]

    logs = api.get(f"/v1/Devices/{sid}/Logs").json()
    assert [line["text"] for line in logs["logs"]] == ["line 0", "line 1", "line 2"]
    sequences = [line["sequence"] for line in logs["logs"]]
    assert sequences == sorted(sequences) and len(set(sequences)) == 3
    assert logs["meta"]["key"] == "logs"
    events = api.get(f"/v1/Devices/{sid}/Events").json()["events"]
    assert [(e["type"], e["details"]) for e in events[1:]] == [
        ("connected", {"address": "10.0.0.7"}), ("disconnected", {"reason": "keep-alive timeout"})]


def test_reported_app_completes_the_update(api, service):
    app = api.upload(app_bundle()).json()
    sid = api.register()["sid"]
    api.post(f"/v1/Devices/{sid}", data={"TargetApp": app["sid"]})
    state = service.link.desired_state(sid)
    assert state.app_sid == app["sid"] and state.manifest_hash == parse_api_hash(app["hash"])
    assert len(state.layer_hashes) == 1 and service.link.layer(state.layer_hashes[0])

    service.link.app_reported(sid, "ab" * 32)  # still the old app
    assert api.get(f"/v1/Devices/{sid}").json()["app"]["update_status"] == "pending"
    service.link.app_reported(sid, state.manifest_hash)
    device_app = api.get(f"/v1/Devices/{sid}").json()["app"]
    assert device_app["update_status"] == "up-to-date"
    assert device_app["reported_sid"] == app["sid"] and device_app["date_reported"]
    types = [e["type"] for e in api.get(f"/v1/Devices/{sid}/Events").json()["events"]]
    assert types[-3:] == ["app-targeted", "app-reported", "update-complete"]


def test_update_errors_crashes_and_commands(api, service):
    app = api.upload(app_bundle()).json()
    sid = api.register()["sid"]
    api.post(f"/v1/Devices/{sid}", data={"TargetApp": app["sid"], "RestartApp": "true"})
    service.link.update_failed(sid, 21, "layer hash mismatch")
    device_app = api.get(f"/v1/Devices/{sid}").json()["app"]
    assert device_app["update_status"] == "error" and device_app["update_error_code"] == 21
    service.link.crashed(sid, {"fault": "HardFault", "pc": 0x08000412})
    events = api.get(f"/v1/Devices/{sid}/Events").json()["events"]
    assert events[-2]["details"]["message"] == "layer hash mismatch"
    assert events[-1]["type"] == "crash" and events[-1]["details"]["pc"] == 0x08000412

    [command] = service.link.pending_commands(sid)
    assert command.kind == "restart-app"
    service.link.command_delivered(sid, command.id)
    assert service.link.pending_commands(sid) == []
    with pytest.raises(NotFound):
        service.link.logs("UV" + "0" * 32, "b1", 0, ["who?"])


def test_debug_messages_are_kept_as_they_came_briefly_and_bounded(api, service, monkeypatch):
    monkeypatch.setattr(debug_messages, "KEEP_LAST", 5)
    quiet, chatty = api.register()["sid"], api.register()["sid"]
    now = utc_now()
    service.link.debug_message(quiet, b"\x00\xff old", when=now - datetime.timedelta(minutes=9))
    sequences = [service.link.debug_message(chatty, bytes([n]) * 3) for n in range(7)]
    assert sequences == sorted(sequences)
    with service.database.transaction() as session:
        quiet_id, chatty_id = (device_by_sid(session, sid).id for sid in (quiet, chatty))
        kept = debug_messages.messages_after(session, chatty_id, 0)
        assert [row.payload for row in kept] == [bytes([n]) * 3 for n in range(2, 7)]  # the newest 5
        assert [row.id for row in kept] == sequences[2:]
        [old] = debug_messages.messages_after(session, quiet_id, 0)
        assert old.payload == b"\x00\xff old"
        later = now + datetime.timedelta(minutes=2)  # the quiet device's message is 11 minutes old
        assert debug_messages.messages_after(session, quiet_id, 0, now=later) == []
        assert debug_messages.prune(session, chatty_id, now=later) == 1  # any device's expired ones go
        assert debug_messages.last_sequence(session, quiet_id) == 0
        assert debug_messages.last_sequence(session, chatty_id) == sequences[-1]
        set_disabled(session, api.sid, True)
    with pytest.raises(NotFound):  # a disabled account's devices are ignored, as for logs
        service.link.debug_message(chatty, b"ignored")


def test_patches_from_the_running_app_are_made_once_and_fetched_only_by_their_devices(api, other_api,
                                                                                     service):
    image = os.urandom(16 * 1024)
    v1 = api.upload(app_bundle(image)).json()
    v2 = api.upload(app_bundle(image[:5000] + b"v2" + image[5002:])).json()
    sid = api.register()["sid"]
    api.post(f"/v1/Devices/{sid}", data={"TargetApp": v2["sid"]})
    assert service.link.desired_state(sid).source is None  # it runs nothing yet: whole layers
    assert service.link.patch(sid, service.link.desired_state(sid).layer_hashes[0]) is None

    service.link.app_reported(sid, parse_api_hash(v1["hash"]))
    state = service.link.desired_state(sid)
    assert state.source is not None and state.source[0] == parse_api_hash(v1["hash"])
    [layer] = state.layer_hashes
    patch = service.link.patch(sid, layer)
    source = delta.source_image([(service.link.layer(state.source[1][0]), 1024 * 1024)])
    assert patch.source_hash == delta.source_hash(source)
    target = service.link.layer(layer)
    assert delta.apply(source, patch.data, len(target), layer) == target
    assert len(patch.data) < len(target) // 20
    assert service.link.patch(sid, layer) == patch  # kept: the same patch again
    assert service.link.may_fetch(sid, patch.hash) and service.link.layer(patch.hash) == patch.data

    # Another account's device, even one running the same image, may not fetch it.
    theirs = other_api.register()["sid"]
    assert not service.link.may_fetch(theirs, patch.hash)
    # Retargeted elsewhere, the device may no longer fetch it either.
    api.post(f"/v1/Devices/{sid}", data={"TargetApp": v1["sid"]})
    assert not service.link.may_fetch(sid, patch.hash)

    # A kept patch that was damaged is made again, never served.
    with service.database.transaction() as session:
        session.execute(update(LayerDelta).where(LayerDelta.delta_hash == patch.hash).values(data=b"x"))
    assert service.link.layer(patch.hash) is None
    assert service.link.patch(sid, layer) == patch
    assert service.link.layer(patch.hash) == patch.data
