"""The `microvisor` commands that talk to a real server process: signing keys, apps, devices, configs,
secrets, logs."""

from __future__ import annotations

import json
import os
import subprocess
import time

import httpx
from microvisor.cloud.database import Database, sqlite_url
from microvisor.cloud.link_gateway import LinkGateway
from microvisor.cloud.log_stream import LogWakeups
from microvisor.common import keys
from microvisor.common.bundle import Bundle

from ..conftest import CLI
from .conftest import app_bundle
from .test_server_process import _credentials, running_server


def cli_env(url: str, data, home) -> dict[str, str]:
    sid, token = _credentials(data)
    return {**os.environ, "MICROVISOR_URL": url, "MICROVISOR_ACCOUNT_SID": sid,
            "MICROVISOR_AUTH_TOKEN": token, "XDG_CONFIG_HOME": str(home)}


def cli(env: dict[str, str], *args: str, expect: int = 0) -> str:
    result = subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == expect, (args, result.stdout, result.stderr)
    return result.stdout if expect == 0 else result.stderr


def test_the_command_line_drives_the_service(tmp_path):
    data = tmp_path / "server"
    with running_server(data) as (url, _):
        env = cli_env(url, data, tmp_path / "home")
        customer = keys.generate()
        keys.save_pair(tmp_path / "me.pem", customer)
        registered = json.loads(cli(env, "keys", "register", str(tmp_path / "me.pub.pem"), "--name", "me",
                                    "--json"))
        assert registered["signer_id"] == f"{keys.signer_id(customer.public_key()):016x}"
        twice = cli(env, "keys", "register", str(tmp_path / "me.pem"), expect=1)  # the public half is sent
        assert "registered with this account already" in " ".join(twice.split())
        assert "does not exist" in cli(env, "keys", "register", str(tmp_path / "none.pem"), expect=2)
        listed = json.loads(cli(env, "keys", "registered", "--json"))
        assert [(k["sid"], k["friendly_name"]) for k in listed] == [(registered["sid"], "me")]

        stranger = keys.generate()
        app_bundle(key=stranger).write(tmp_path / "stranger.zip")
        refused = cli(env, "apps", "create", str(tmp_path / "stranger.zip"), expect=1)
        assert f"signed by key {keys.signer_id(stranger.public_key()):016x} that this account has not " \
               "registered" in " ".join(refused.split())

        bundle = app_bundle(key=customer)
        bundle.write(tmp_path / "app.zip")
        created = json.loads(cli(env, "apps", "create", str(tmp_path / "app.zip"), "--unique-name", "demo",
                                 "--bundle-out", str(tmp_path / "signed.zip"), "--json"))
        signed = Bundle.read(tmp_path / "signed.zip")
        assert signed.signed_by(customer.public_key()) and len(signed.signatures()) == 2
        assert created["hash"].endswith(bundle.manifest_hash)
        assert [a["sid"] for a in json.loads(cli(env, "apps", "list", "--json"))] == [created["sid"]]
        fetched = json.loads(cli(env, "apps", "fetch", "demo", "--json"))
        assert fetched["manifest"]["app_sid"] == created["sid"]
        cli(env, "keys", "unregister", registered["sid"])
        assert json.loads(cli(env, "keys", "registered", "--json")) == []
        assert "not found" in cli(env, "keys", "unregister", registered["sid"], expect=1)
        app_bundle(key=customer).write(tmp_path / "again.zip")
        assert "has not registered" in " ".join(cli(env, "apps", "create", str(tmp_path / "again.zip"),
                                                    expect=1).split())

        assert json.loads(cli(env, "devices", "list", "--json")) == []
        sid, token = _credentials(data)
        registered = httpx.post(f"{url}/v1/Devices", auth=(sid, token), data={
            "ChipUid": os.urandom(12).hex(),
            "PublicKey": keys.public_pem(keys.generate().public_key()).decode()}).json()["sid"]
        [row] = json.loads(cli(env, "devices", "update", registered, "--target-app", "demo", "--json"))
        assert row["app"]["target_sid"] == created["sid"] and row["app"]["update_status"] == "pending"
        assert "nothing to change" in cli(env, "devices", "update", registered, expect=2)
        assert "error:" in cli(env, "apps", "delete", "demo", expect=1)  # a device targets it

        cli(env, "configs", "set", "colour", "blue")
        cli(env, "configs", "set", "colour", "green")
        cli(env, "secrets", "set", "token", "s3cret", "--device", registered)
        configs = json.loads(cli(env, "configs", "list", "--json"))
        assert [(c["key"], c["value"]) for c in configs] == [("colour", "green")]
        secrets = json.loads(cli(env, "secrets", "list", "--device", registered, "--json"))
        assert [s["key"] for s in secrets] == ["token"] and "s3cret" not in json.dumps(secrets)
        cli(env, "secrets", "delete", "token", "--device", registered)
        assert json.loads(cli(env, "secrets", "list", "--device", registered, "--json")) == []

        stream = subprocess.Popen([str(CLI), "logs", "stream", registered, "--after", "0"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            link = LinkGateway(Database(sqlite_url(data / "microvisor.db")), LogWakeups())
            for number, line in enumerate(("one", "two", "three")):
                link.logs(registered, "b1", number, [line])
            link.database.dispose()
            seen, deadline = [], time.monotonic() + 15
            while len(seen) < 3 and time.monotonic() < deadline:
                line = stream.stdout.readline()
                if line:
                    seen.append(line.split()[-1])
            assert seen == ["one", "two", "three"]
        finally:
            stream.kill()
            stream.wait()

        bad = {**env, "MICROVISOR_AUTH_TOKEN": "0" * 32}
        assert "wrong" in cli(bad, "devices", "list", expect=1)
        no_credentials = {k: v for k, v in env.items() if not k.startswith("MICROVISOR_")}
        assert "microvisor login" in cli(no_credentials, "apps", "list", expect=2)
        cli(no_credentials, "login", "--url", url, "--account-sid", sid, "--auth-token", token)
        assert json.loads(cli(no_credentials, "apps", "list", "--json"))[0]["sid"] == created["sid"]
