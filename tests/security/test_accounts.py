"""The operator makes, lists, disables and enables tenants (`server accounts`), on a live server."""

from __future__ import annotations

import json
import subprocess

import httpx

from microvisor.common import link as wire

from ..conftest import CLI
from ..link.conftest import wait_until
from .conftest import connect, create_account, register, settle


def accounts(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "server", "accounts", *args, "--data", str(server.data)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_an_operator_manages_tenants_on_a_running_server(server, tmp_path):
    tenant = create_account(server, "Acme devices")
    devices = f"{server.url}/v1/Devices"
    assert httpx.get(devices, auth=(tenant.sid, tenant.token)).status_code == 200
    listed = json.loads(accounts(server, "list", "--json").stdout)
    assert {"account_sid": tenant.sid, "friendly_name": "Acme devices", "status": "active"}.items() <= \
        next(row for row in listed if row["account_sid"] == tenant.sid).items()
    assert all("auth_token" not in row for row in listed)

    device = register(tenant)
    peer = connect(server.broker_port, device, tmp_path)
    try:
        assert accounts(server, "disable", tenant.sid).returncode == 0
        refused = httpx.get(devices, auth=(tenant.sid, tenant.token))
        assert refused.status_code == 401
        assert refused.json()["message"] == f"Account {tenant.sid} is disabled."
        peer.send(wire.LOGS, {"boot": "b1", "first": 0, "lines": ["while disabled"], "dropped": 0})
        settle()
        assert accounts(server, "enable", tenant.sid).returncode == 0
        with tenant.api() as api:
            assert [line["text"] for line in api.pages(f"/v1/Devices/{device.sid}/Logs", "logs")] == []
        peer.send(wire.LOGS, {"boot": "b1", "first": 1, "lines": ["enabled again"], "dropped": 0})
        with tenant.api() as api:
            wait_until(lambda: [line["text"] for line in api.pages(f"/v1/Devices/{device.sid}/Logs", "logs")]
                       == ["enabled again"], 10, "the device's traffic to count again")
    finally:
        peer.close()


def test_account_commands_refuse_bad_input_in_one_sentence(server):
    unknown = accounts(server, "disable", "AC" + "0" * 32)
    assert unknown.returncode == 1 and unknown.stderr == f"error: there is no account AC{'0' * 32}.\n"
    for bad in ("not-a-sid", "AC٣"):
        result = accounts(server, "enable", bad)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    long_name = accounts(server, "create", "--name", "x" * 201)
    assert long_name.returncode == 2 and "Traceback" not in long_name.stderr
