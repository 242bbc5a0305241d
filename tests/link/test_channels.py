"""HTTP and configuration channels end to end: the examples on a device, a real server, a local HTTPS site."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import DeviceRun, Server
from .test_link import create_device
from .web_server import HOST, TODO, WebServer, make_ca


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[tuple[WebServer, Path]]:
    folder = tmp_path_factory.mktemp("web")
    ca, certificate, key = make_ca(folder)
    server = WebServer(certificate, key)
    yield server, ca
    server.close()


@pytest.fixture(scope="module")
def channel_server(tmp_path_factory, web) -> Iterator[Server]:
    """A server whose devices' channels may reach 127.0.0.1, with the web server's name and CA."""
    site, ca = web
    root = tmp_path_factory.mktemp("channel_server")
    running = Server(root / "server", root / "home", ("--allow-private-destinations", "--channel-ca", str(ca),
                                                      "--resolve", f"{HOST}:{site.port}:127.0.0.1"))
    running.start()
    try:
        yield running
    finally:
        running.stop()
        running.proxy.close()


def run_example(server: Server, examples: Path, name: str, folder: Path, before=None) -> str:
    """Make a device, let it log, deploy the example, wait for its DONE line; the device's output."""
    sid = create_device(server, folder)
    server.cli("devices", "update", sid, "--logging")
    if before is not None:
        before(sid)
    device = DeviceRun(folder, server.env())
    try:
        server.cli("deploy", str(examples / name / f"{name}.elf"), "--device", sid, "--wait")
        device.wait_for(f"{name}: DONE", timeout=90)
    finally:
        device.stop()
    return device.output.text


def test_the_http_example_gets_and_posts_through_the_service(channel_server, web, examples, tmp_path):
    site, _ = web
    with channel_server.api() as api:
        api.post("/v1/Configs", {"Key": "http-base", "Value": f"https://{HOST}:{site.port}"})
    output = run_example(channel_server, examples, "http", tmp_path / "dev")
    assert "http: DONE pass=" in output and "fail=0" in output, output[-3000:]
    assert "http: GET 200 headers" in output and json.dumps(TODO) in output, output[-3000:]
    assert 'http: POST 200 headers' in output and '{"sensor":"t1","value":21.5}' in output, output[-3000:]
    assert "http: GET header Content-Type: application/json" in output, output[-3000:]
    posts = [r for r in site.requests if r["method"] == "POST"]
    assert posts and posts[-1]["body"] == b'{"sensor":"t1","value":21.5}'
    assert posts[-1]["headers"]["Content-Type"] == "application/json"
    assert posts[-1]["headers"]["Host"] == f"{HOST}:{site.port}"  # the name, not the address it reached


def test_the_config_example_reads_configs_and_a_secret(channel_server, examples, tmp_path):
    secret = "s3cr3t-Ω-key"
    with channel_server.api() as api:
        api.post("/v1/Secrets", {"Key": "api-key", "Value": secret})
        api.post("/v1/Configs", {"Key": "units", "Value": "metric"})
        api.post("/v1/Configs", {"Key": "greeting", "Value": "account-level hello (must not be read)"})

    def device_config(sid: str) -> None:
        with channel_server.api() as api:
            api.post(f"/v1/Devices/{sid}/Configs",
                     {"Key": "greeting", "Value": "hello from the device's config"})

    output = run_example(channel_server, examples, "config", tmp_path / "dev", before=device_config)
    assert "config: DONE pass=" in output and "fail=0" in output, output[-3000:]
    assert "config: greeting = hello from the device's config" in output
    raw = secret.encode()
    assert f"config: api-key has {len(raw)} bytes, byte sum {sum(raw)}" in output
    assert "config: units = metric" in output  # the device has none: its account's answers
    assert secret not in output  # the example never logs it
    with channel_server.api() as api:  # and the REST API never lists a secret's value
        listed = api.get("/v1/Secrets")
    assert secret not in json.dumps(listed)
    assert re.search(r"opened channel \d+ \(config\)", channel_server.log)
