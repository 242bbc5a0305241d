"""Configs and secrets, of the account and of a device: create, list, fetch, update, delete."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from microvisor.cloud.models import Account, Secret
from microvisor.cloud.store import variables


@pytest.mark.parametrize("parent", ["account", "device"])
def test_config_lifecycle(api, parent):
    base = "/v1" if parent == "account" else f"/v1/Devices/{api.register()['sid']}"
    created = api.post(f"{base}/Configs", data={"Key": "interval", "Value": "60"})
    assert created.status_code == 201, created.text
    config = created.json()
    assert config["key"] == "interval" and config["value"] == "60" and config["date_updated"].endswith("Z")
    assert config["url"].endswith(f"{base}/Configs/interval")
    if parent == "device":
        assert config["device_sid"] == base.rsplit("/", 1)[1]
    assert api.post(f"{base}/Configs", data={"Key": "interval", "Value": "1"}).status_code == 409
    assert api.get(f"{base}/Configs/interval").json()["value"] == "60"
    assert api.post(f"{base}/Configs/interval", data={"Value": "30"}).json()["value"] == "30"
    listed = api.get(f"{base}/Configs").json()
    assert [(c["key"], c["value"]) for c in listed["configs"]] == [("interval", "30")]
    assert api.delete(f"{base}/Configs/interval").status_code == 204
    assert api.get(f"{base}/Configs/interval").status_code == 404
    assert api.delete(f"{base}/Configs/interval").status_code == 404


@pytest.mark.parametrize("parent", ["account", "device"])
def test_secret_lifecycle_never_shows_the_value(api, service, parent):
    base = "/v1" if parent == "account" else f"/v1/Devices/{api.register()['sid']}"
    created = api.post(f"{base}/Secrets", data={"Key": "wifi", "Value": "hunter2"})
    assert created.status_code == 201, created.text
    assert "value" not in created.json() and created.json()["date_rotated"]
    fetched = api.get(f"{base}/Secrets/wifi")
    assert "hunter2" not in fetched.text and fetched.json()["key"] == "wifi"
    updated = api.post(f"{base}/Secrets/wifi", data={"Value": "correct horse"})
    assert updated.status_code == 200 and "correct horse" not in updated.text
    listed = api.get(f"{base}/Secrets")
    assert [s["key"] for s in listed.json()["secrets"]] == ["wifi"] and "correct" not in listed.text
    with service.database.transaction() as session:
        account_id = select(Account.id).where(Account.sid == api.sid).scalar_subquery()
        row = session.scalar(select(Secret).where(Secret.account_id == account_id, Secret.key == "wifi"))
        assert b"correct horse" not in row.ciphertext
        assert variables.secret_value(service.secrets, row) == "correct horse"
    assert api.delete(f"{base}/Secrets/wifi").status_code == 204
    assert api.get(f"{base}/Secrets").json()["secrets"] == []


def test_account_and_device_scopes_are_separate(api, other_api):
    sid = api.register()["sid"]
    api.post("/v1/Configs", data={"Key": "k", "Value": "account"})
    api.post(f"/v1/Devices/{sid}/Configs", data={"Key": "k", "Value": "device"})
    assert api.get("/v1/Configs/k").json()["value"] == "account"
    assert api.get(f"/v1/Devices/{sid}/Configs/k").json()["value"] == "device"
    assert other_api.get("/v1/Configs/k").status_code == 404


def test_keys_and_values_are_checked(api):
    assert api.post("/v1/Configs", data={"Key": "a" * 101, "Value": "v"}).status_code == 400
    assert api.post("/v1/Configs", data={"Key": "a/b", "Value": "v"}).status_code == 400
    assert api.post("/v1/Secrets", data={"Key": "k", "Value": "v" * 4097}).status_code == 400
    spaced = api.post("/v1/Configs", data={"Key": "with space", "Value": "ok"}).json()
    assert spaced["url"].endswith("/v1/Configs/with%20space")
    assert api.get("/v1/Configs/with space").json()["value"] == "ok"

