"""Each hostile input that once broke `microvisor` with a traceback: now one sentence and exit 2."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
from pathlib import Path

import pytest
from microvisor.common.bundle import build_app
from microvisor.common.link import LinkMessageError, parse_address

from ..conftest import CLI

TOO_BIG = str(2**32)  # one above the largest uint32 of the manifest
APP_INTEGER_OPTIONS = ["--crash-stack-bytes", "--minimum-restart-interval", "--maximum-restart-interval",
                       "--maximum-politeness-time", "--minimum-kernel-version", "--connection-grace-time",
                       "--minimum-check-in-time", "--layer-size"]
BAD_URL = "http://[::1"  # httpx refuses it (InvalidURL)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path


def run(home: Path, *args: str, env: dict[str, str] | None = None,
        timeout: float = 30) -> subprocess.CompletedProcess:
    """The real command in `home`, with no service credentials unless `env` gives some."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MICROVISOR_")}
    clean.update(HOME=str(home / "home"), XDG_CONFIG_HOME=str(home / "home" / ".config"), **(env or {}))
    try:
        return subprocess.run([str(CLI), *args], capture_output=True, text=True, cwd=home, env=clean,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"microvisor {' '.join(args)} was still running after {timeout} s")


def one_sentence(result: subprocess.CompletedProcess, code: int = 2) -> str:
    """Assert: exit `code`, no traceback, exactly one line on stderr ending with a period."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == code, (result.returncode, output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("."), result.stderr
    return lines[0]


@pytest.fixture
def firmware(home: Path) -> Path:
    """A flat binary that passes the firmware checks: stack pointer in SRAM, reset vector inside."""
    path = home / "app.bin"
    path.write_bytes(struct.pack("<II", 0x20001000, 0x08000009) + bytes(56))
    return path


@pytest.fixture
def platform(home: Path) -> Path:
    assert run(home, "platform", "init", "plat").returncode == 0
    return home / "plat"


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_device_run_gdb_port_out_of_range(home, firmware, port):
    line = one_sentence(run(home, "device", "run", str(firmware), "--gdb", port, "--timeout", "5"))
    assert "--gdb" in line


@pytest.mark.parametrize("seconds", ["nan", "inf"])
def test_device_run_timeout_not_finite(home, firmware, seconds):
    line = one_sentence(run(home, "device", "run", str(firmware), "--timeout", seconds))
    assert "--timeout" in line


@pytest.mark.parametrize("option", ["--version-number", "--ratchet"])
def test_kernel_build_uint32_fields(home, platform, option):
    line = one_sentence(run(home, "kernel", "build", "--platform", str(platform), "-o", "k.zip", option,
                            TOO_BIG))
    assert option in line and not (home / "k.zip").exists()


@pytest.mark.parametrize("option", APP_INTEGER_OPTIONS)
def test_apps_bundle_integer_options(home, firmware, option):
    line = one_sentence(run(home, "apps", "bundle", str(firmware), "out.zip", "--unsigned", option, TOO_BIG))
    assert option in line and not (home / "out.zip").exists()


def test_device_create_server_url(home):
    credentials = {"MICROVISOR_ACCOUNT_SID": "AC" + "0" * 32, "MICROVISOR_AUTH_TOKEN": "0" * 32}
    line = one_sentence(run(home, "device", "create", "dev", "--server", BAD_URL, env=credentials))
    assert "--server" in line and not (home / "dev").exists()


def test_login_url(home):
    line = one_sentence(run(home, "login", "--url", BAD_URL, "--account-sid", "AC" + "0" * 32,
                            "--auth-token", "0" * 32))
    assert "--url" in line


def test_microvisor_url_from_the_environment(home):
    env = {"MICROVISOR_URL": BAD_URL, "MICROVISOR_ACCOUNT_SID": "AC" + "0" * 32,
           "MICROVISOR_AUTH_TOKEN": "0" * 32}
    line = one_sentence(run(home, "apps", "list", env=env))
    assert "MICROVISOR_URL" in line


def test_server_broker_url_must_be_host_and_port(home):
    result = run(home, "server", "--data", "srv", "--port", str(_closed_port()), "--broker-url", "::::",
                 timeout=20)
    line = one_sentence(result)
    assert "--broker-url" in line and not (home / "srv").exists()


@pytest.mark.parametrize("text, expected", [
    ("broker.example:8883", ("broker.example", 8883)), ("10.0.0.1", ("10.0.0.1", 8883)),
    ("[::1]:1883", ("::1", 1883)), ("::1", ("::1", 8883)), ("mqtts://h:1", ("h", 1)),
    ("::::", None), ("h:0", None), ("h:65536", None), ("h:", None), (":1", None), ("", None),
    ("http://h:1", None), ("[::1", None), ("é:1", None), ("a b:1", None), ("h:+1", None),
])
def test_the_one_rule_for_broker_addresses(text, expected):
    if expected is None:
        with pytest.raises(LinkMessageError):
            parse_address(text)
    else:
        assert parse_address(text) == expected


def test_apps_inspect_exit_code_does_not_depend_on_json(home):
    bundle = build_app(struct.pack("<II", 0x20001000, 0x08000009) + bytes(56))
    [name] = bundle.layers
    bundle.layers[name] = b"tampered"  # the layer no longer matches its hash
    bundle.write(home / "bad.zip")
    text = run(home, "apps", "inspect", "bad.zip")
    as_json = run(home, "apps", "inspect", "bad.zip", "--json")
    assert text.returncode == as_json.returncode == 1, (text.returncode, as_json.returncode)
    assert json.loads(as_json.stdout)["layers_ok"] is False
    assert "Traceback" not in text.stderr + as_json.stderr
