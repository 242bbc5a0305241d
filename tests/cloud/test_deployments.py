"""Deployments: stages that advance after a soak, halts on failed installs and crashes, pause, resume,
rollback, devices that leave, and every parameter checked (on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime

import pytest

from microvisor.cloud.clock import utc_now
from microvisor.cloud.rollouts import RolloutDriver
from microvisor.cloud.store import crashes, deployments, device_state
from microvisor.cloud.store.devices import find_device
from microvisor.common.rollout_stages import parse_stages, stage_bounds

from .conftest import app_bundle

SECOND = datetime.timedelta(seconds=1)


def _fleet(api, count: int) -> tuple[list[str], dict, dict]:
    """Devices that run v1 (as their hello would report), and apps v1 and v2."""
    v1 = api.upload(app_bundle()).json()
    v2 = api.upload(app_bundle()).json()
    sids = [api.register()["sid"] for _ in range(count)]
    for sid in sids:
        _report(api, sid, v1)
    return sids, v1, v2


def _manifest_hash(app: dict) -> str:
    return app["hash"].split(":", 1)[1]


def _report(api, sid: str, app: dict, when: datetime.datetime | None = None) -> None:
    with _session(api) as session:
        device = find_device(session, _account_id(session, api), sid)
        device_state.record_reported_app(session, device, _manifest_hash(app), when=when)


def _crash(api, sid: str, when: datetime.datetime | None = None) -> None:
    with _session(api) as session:
        device = find_device(session, _account_id(session, api), sid)
        crashes.record(session, device, crashes.reported_app(session, device), {"sealed": False}, None,
                       when=when)


def _session(api):
    return api.service.database.transaction()


def _account_id(session, api) -> int:
    from microvisor.cloud.models import Account
    from sqlalchemy import select

    return session.scalar(select(Account.id).where(Account.sid == api.sid))


def _advance(api, deployment_sid: str, now: datetime.datetime) -> dict:
    with _session(api) as session:
        row = deployments.find_deployment(session, _account_id(session, api), deployment_sid)
        deployments.advance(session, row, now)
    return api.get(f"/v1/Deployments/{deployment_sid}").json()


def _target(api, sid: str) -> str | None:
    return api.get(f"/v1/Devices/{sid}").json()["app"]["target_sid"]


@pytest.fixture
def api(api, service):
    api.service = service
    return api


def test_stages_advance_after_the_soak_and_complete(api):
    sids, v1, v2 = _fleet(api, 4)
    created = api.post("/v1/Deployments", data={"App": v2["sid"], "Devices": sids, "Stages": "25,50,100",
                                                "SoakSeconds": "10"})
    assert created.status_code == 201, created.text
    deployment = created.json()
    assert deployment["status"] == "active" and deployment["stage"] == 0
    assert [stage["devices"] for stage in deployment["stages"]] == [1, 2, 4]
    assert [_target(api, sid) for sid in sids] == [v2["sid"], None, None, None]
    assert deployment["devices"]["targeted"] == 1 and deployment["devices"]["waiting"] == 3

    start = utc_now()
    _report(api, sids[0], v2, start)
    state = _advance(api, deployment["sid"], start + SECOND)
    assert state["stage"] == 0 and state["devices"]["updated"] == 1  # soaking
    state = _advance(api, deployment["sid"], start + 5 * SECOND)
    assert state["stage"] == 0
    state = _advance(api, deployment["sid"], start + 12 * SECOND)
    assert state["stage"] == 1 and _target(api, sids[1]) == v2["sid"] and _target(api, sids[2]) is None

    _report(api, sids[1], v2)
    assert _advance(api, deployment["sid"], utc_now())["stage"] == 1
    state = _advance(api, deployment["sid"], utc_now() + 11 * SECOND)
    assert state["stage"] == 2
    for sid in sids[2:]:
        _report(api, sid, v2)
    _advance(api, deployment["sid"], utc_now())
    state = _advance(api, deployment["sid"], utc_now() + 11 * SECOND)
    assert state["status"] == "completed" and state["devices"]["updated"] == 4
    assert state["stages"][-1] == {"percent": 100, "devices": 4, "updated": 4}
    assert state["crash_rate"] == 0 and state["devices_ran"] == 4
    listed = api.get("/v1/Deployments/" + deployment["sid"] + "/Devices").json()["devices"]
    assert [item["device_sid"] for item in listed] == sids
    assert {item["previous_app_sid"] for item in listed} == {v1["sid"]}


def test_a_crash_rate_past_the_threshold_halts_and_rollback_targets_the_previous_app(api):
    sids, v1, v2 = _fleet(api, 4)
    deployment = api.post("/v1/Deployments", data={"App": v2["sid"], "Devices": sids, "Stages": "50,100",
                                                    "HaltOnCrashRate": "0.4", "SoakSeconds": "0"}).json()
    start = utc_now()
    _report(api, sids[0], v2, start)
    _report(api, sids[1], v2, start)
    _crash(api, sids[0], start - 60 * SECOND)  # before the deployment targeted it: not counted
    state = _advance(api, deployment["sid"], start)
    # one crash before targeting does not count; the stage had soaked (0 s), so the next stage began
    assert state["status"] == "active" and state["devices_crashed"] == 0 and state["stage"] == 1
    _crash(api, sids[0])
    state = _advance(api, deployment["sid"], utc_now())
    assert state["status"] == "halted", state  # 1 of 2 devices that ran it: 50% > 40%
    assert "1 of 2 device(s) crashed" in state["halt_reason"]

    refused = api.post(f"/v1/Deployments/{deployment['sid']}", data={"Action": "resume"})
    assert refused.status_code == 409 and "roll it back" in refused.json()["message"]
    rolled = api.post(f"/v1/Deployments/{deployment['sid']}", data={"Action": "rollback"})
    assert rolled.status_code == 200 and rolled.json()["status"] == "rolled-back"
    assert [_target(api, sid) for sid in sids[:2]] == [v1["sid"], v1["sid"]]
    assert rolled.json()["devices"]["rolled-back"] == 4  # the second stage had been targeted
    assert api.post(f"/v1/Deployments/{deployment['sid']}", data={"Action": "rollback"}).status_code == 409


def test_a_failed_install_halts(api):
    sids, _, v2 = _fleet(api, 2)
    deployment = api.post("/v1/Deployments", data={"App": v2["sid"], "Devices": sids}).json()
    with _session(api) as session:
        device = find_device(session, _account_id(session, api), sids[0])
        device_state.record_update_error(session, device, 3, "no room")
    state = _advance(api, deployment["sid"], utc_now())
    assert state["status"] == "halted" and state["devices"]["failed"] == 1
    assert "could not install" in state["halt_reason"]


def test_pause_and_resume(api):
    sids, _, v2 = _fleet(api, 2)
    deployment = api.post("/v1/Deployments", data={"App": v2["sid"], "Devices": sids, "Stages": "50,100",
                                                   "SoakSeconds": "0"}).json()
    paused = api.post(f"/v1/Deployments/{deployment['sid']}", data={"Action": "pause"}).json()
    assert paused["status"] == "paused"
    assert api.post(f"/v1/Deployments/{deployment['sid']}", data={"Action": "pause"}).status_code == 409
    _report(api, sids[0], v2)
    state = _advance(api, deployment["sid"], utc_now() + 60 * SECOND)
    assert state["stage"] == 0 and _target(api, sids[1]) is None  # a paused deployment does not move
    resumed = api.post(f"/v1/Deployments/{deployment['sid']}", data={"Action": "resume"}).json()
    assert resumed["status"] == "active" and resumed["stage"] == 1  # resume steps at once
    assert _target(api, sids[1]) == v2["sid"]
    listed = api.get("/v1/Deployments", params={"Status": "active"}).json()["deployments"]
    assert [item["sid"] for item in listed] == [deployment["sid"]]


def test_devices_leave_when_retargeted_by_hand_or_by_a_newer_deployment(api):
    sids, v1, v2 = _fleet(api, 3)
    first = api.post("/v1/Deployments", data={"App": v2["sid"], "Devices": sids, "Stages": "34,100"}).json()
    assert api.post(f"/v1/Devices/{sids[0]}", data={"TargetApp": v1["sid"]}).status_code == 200
    assert api.post(f"/v1/Devices/{sids[1]}", data={"TargetApp": v1["sid"]}).status_code == 200
    state = _advance(api, first["sid"], utc_now())
    assert state["devices"]["left"] == 2
    second = api.post("/v1/Deployments", data={"App": v2["sid"], "Devices": [sids[2]]}).json()
    assert api.get(f"/v1/Deployments/{first['sid']}").json()["devices"]["left"] == 3
    assert second["devices"]["targeted"] == 1
    # the first deployment, advancing, never takes the devices back
    _advance(api, first["sid"], utc_now() + 3600 * SECOND)
    assert [_target(api, sid) for sid in sids] == [v1["sid"], v1["sid"], v2["sid"]]


def test_forced_and_politeness_reach_the_desired_state(api, service):
    sids, _, v2 = _fleet(api, 2)
    api.post("/v1/Deployments", data={"App": v2["sid"], "Devices": sids[:1], "Forced": "true"})
    api.post("/v1/Deployments", data={"App": v2["sid"], "Devices": sids[1:], "Politeness": "30"})
    assert service.link.desired_state(sids[0]).politeness_s == 0
    assert service.link.desired_state(sids[1]).politeness_s == 30


def test_all_devices_in_a_random_order(api):
    sids, _, v2 = _fleet(api, 3)
    deployment = api.post("/v1/Deployments", data={"App": v2["sid"], "All": "true"}).json()
    assert deployment["stages"][-1]["devices"] == 3 and deployment["devices"]["targeted"] == 1
    listed = api.get(f"/v1/Deployments/{deployment['sid']}/Devices").json()["devices"]
    assert sorted(item["device_sid"] for item in listed) == sorted(sids)


@pytest.mark.parametrize("fields, words", [
    ({}, "not both"),
    ({"All": "true", "Devices": ["x"]}, "not both"),
    ({"Devices": ["UV" + "0" * 32]}, "is not a device of this account"),
    ({"All": "true", "Stages": "10,5,100"}, "Stages"),
    ({"All": "true", "Stages": "0,100"}, "Stages"),
    ({"All": "true", "Stages": "10,50"}, "Stages"),
    ({"All": "true", "Stages": "1," * 10 + "100"}, "Stages"),
    ({"All": "true", "HaltOnCrashRate": "nan"}, "HaltOnCrashRate"),
    ({"All": "true", "HaltOnCrashRate": "1e-3"}, "HaltOnCrashRate"),
    ({"All": "true", "HaltOnCrashRate": "1.5"}, "HaltOnCrashRate"),
    ({"All": "true", "SoakSeconds": "-1"}, "SoakSeconds"),
    ({"All": "true", "Politeness": str(2**32)}, "Politeness"),
    ({"All": "true", "Politeness": "5", "Forced": "true"}, "no Politeness"),
])
def test_create_checks_its_parameters(api, fields, words):
    _, _, v2 = _fleet(api, 1)
    response = api.post("/v1/Deployments", data={"App": v2["sid"], **fields})
    assert response.status_code == 400, response.text
    assert words in response.json()["message"]


def test_another_account_sees_nothing_and_cannot_act(api, other_api):
    sids, _, v2 = _fleet(api, 1)
    deployment = api.post("/v1/Deployments", data={"App": v2["sid"], "Devices": sids}).json()
    assert other_api.get(f"/v1/Deployments/{deployment['sid']}").status_code == 404
    refused = other_api.post(f"/v1/Deployments/{deployment['sid']}", data={"Action": "rollback"})
    assert refused.status_code == 404
    assert other_api.get(f"/v1/Deployments/{deployment['sid']}/Devices").status_code == 404
    assert other_api.get("/v1/Deployments").json()["deployments"] == []
    their_device = other_api.register()["sid"]
    refused = api.post("/v1/Deployments", data={"App": v2["sid"], "Devices": [their_device]})
    assert refused.status_code == 400
    assert api.post(f"/v1/Deployments/{deployment['sid']}", data={"Action": "explode"}).status_code == 400
    assert api.get("/v1/Deployments/DPnot-a-sid").status_code == 400


def test_the_driver_steps_active_deployments(api, service):
    sids, _, v2 = _fleet(api, 2)
    deployment = api.post("/v1/Deployments", data={"App": v2["sid"], "Devices": sids, "Stages": "50,100",
                                                   "SoakSeconds": "0"}).json()
    _report(api, sids[0], v2)
    RolloutDriver(service.database).step()
    assert api.get(f"/v1/Deployments/{deployment['sid']}").json()["stage"] == 1


def test_stage_bounds_and_stage_parsing():
    assert stage_bounds((1, 10, 50, 100), 4) == [1, 1, 2, 4]
    assert stage_bounds((1, 10, 50, 100), 1000) == [10, 100, 500, 1000]
    assert parse_stages(" 5, 100") == (5, 100)
    for bad in ("", "100,100", "50", "1,,100", "٣,100"):
        with pytest.raises(ValueError):
            parse_stages(bad)
