"""HTTP Basic authentication, account isolation, and the JSON error envelope."""

from __future__ import annotations

ERROR_FIELDS = {"code", "message", "more_info", "status"}


def _is_error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_FIELDS
    assert body["status"] == status
    return body


def test_no_credentials_is_401_with_a_challenge(client):
    response = client.get("/v1/Devices")
    body = _is_error(response, 401)
    assert body["code"] == 20003
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_wrong_token_is_401(api):
    _is_error(api.get("/v1/Devices", auth=(api.sid, "0" * 32)), 401)
    _is_error(api.get("/v1/Apps", auth=("not-a-sid", api.token)), 401)
    assert api.get("/v1/Devices").status_code == 200


def test_another_accounts_device_is_404(api, other_api):
    sid = api.register()["sid"]
    assert api.get(f"/v1/Devices/{sid}").status_code == 200
    body = _is_error(other_api.get(f"/v1/Devices/{sid}"), 404)
    assert body["code"] == 20404 and sid in body["message"]
    _is_error(other_api.post(f"/v1/Devices/{sid}", data={"UniqueName": "mine"}), 404)
    _is_error(other_api.get(f"/v1/Devices/{sid}/Configs"), 404)
    _is_error(other_api.post(f"/v1/Devices/{sid}/Secrets", data={"Key": "k", "Value": "v"}), 404)
    assert other_api.get("/v1/Devices").json()["devices"] == []


def test_unknown_path_and_missing_parameter(api):
    _is_error(api.get("/v1/Nothing"), 404)
    body = _is_error(api.post("/v1/Configs", data={"Key": "k"}), 400)
    assert body["code"] == 20001 and "Value is required" in body["message"]
    _is_error(api.get("/v1/Configs", params={"PageSize": 0}), 400)
