"""Hostile uploads get one clear sentence and a 4xx, and never cost the server more than a bounded amount."""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import httpx
import pytest

from ..conftest import CLI
from . import zips

HOSTILE = {
    "encrypted entry": zips.encrypted,
    "unknown compression method": zips.unknown_method,
    "duplicate entry names": zips.duplicate_names,
    "a ../ entry": lambda: zips.with_extra("../evil"),
    "an absolute entry": lambda: zips.with_extra("/etc/cron.d/evil"),
    "an entry in a folder": lambda: zips.with_extra("a/b"),
    "truncated": zips.truncated,
    "not a zip": lambda: b"hello, I am not a zip",
    "a zip bomb": zips.bomb,
    "a zip bomb that lies about its sizes": lambda: zips.bomb(honest=False),
}
MEMORY_LIMIT = 600 * 1024 * 1024


def upload(tenant, data: bytes) -> httpx.Response:
    return httpx.post(f"{tenant.server.url}/v1/Apps", auth=(tenant.sid, tenant.token), timeout=60,
                      files={"File": ("app.zip", data, "application/zip")})


def peak_memory(pid: int) -> int:
    """VmHWM of a process: the most resident memory it ever had, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_bundle_is_refused_with_one_sentence(tenants, kind):
    response = upload(tenants[0], HOSTILE[kind]())
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == 400 and body["code"] == 20001
    message = body["message"]
    assert message.startswith("The bundle is refused: not a bundle") and message.endswith(".")
    assert "\n" not in message and "Traceback" not in message


def test_the_server_stays_small_while_bombs_are_refused(server, tenants):
    for _ in range(3):
        assert upload(tenants[0], zips.bomb()).status_code == 400
    assert peak_memory(server.process.pid) < MEMORY_LIMIT


def test_an_upload_over_the_limit_is_refused_before_it_is_read(server, tenants):
    response = upload(tenants[0], os.urandom(9 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json()["message"] == (f"The request body is larger than the {8 * 1024 * 1024 + 64 * 1024}"
                                          "-byte limit of this service.")
    # Streamed without a length, it is cut off all the same.
    head = (b'--x\r\nContent-Disposition: form-data; name="File"; filename="app.zip"\r\n'
            b"Content-Type: application/zip\r\n\r\n")
    chunks = (os.urandom(1024 * 1024) if n else head for n in range(12))
    streamed = httpx.post(f"{server.url}/v1/Apps", auth=(tenants[0].sid, tenants[0].token), timeout=60,
                          content=chunks, headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert streamed.status_code == 413


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("honest", [True, False])
def test_apps_inspect_on_a_zip_bomb_stays_bounded(tmp_path, honest):
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(zips.bomb(honest=honest))
    for extra in ((), ("--json",)):
        result = subprocess.run([str(CLI), "apps", "inspect", str(bomb), *extra], capture_output=True,
                                text=True, timeout=120, preexec_fn=_limit_memory, check=False)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
