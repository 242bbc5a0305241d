"""`microvisor server` as a real process: first start, credentials, REST over a socket, live logs, restart."""

from __future__ import annotations

import json
import os
import re
import queue
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from microvisor.cloud.database import Database, sqlite_url
from microvisor.cloud.link_gateway import LinkGateway
from microvisor.cloud.log_stream import LogWakeups
from microvisor.common import keys

from ..conftest import CLI, run_cli
from .conftest import app_bundle
from .postgres import throwaway_database

LISTENING = re.compile(r"listening on (http://\S+)")
START_TIMEOUT = 30.0


@contextmanager
def running_server(data: Path, *extra: str) -> Iterator[tuple[str, str]]:
    """Start the server on a free port; yields (base URL, everything it printed before listening)."""
    command = [str(CLI), "server", "--data", str(data), "--port", "0", "--log-level", "warning", *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    # A thread reads stdout: select() on a buffered pipe would miss lines already read into the buffer.
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout] + [lines.put("")],
                     daemon=True).start()
    printed, url, deadline = "", None, time.monotonic() + START_TIMEOUT
    try:
        while url is None:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if not line:
                process.kill()
                raise AssertionError(f"the server did not start: {printed}{process.communicate()[1]}")
            printed += line
            match = LISTENING.search(line)
            url = match.group(1) if match else None
        yield url, printed
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # Ctrl-C: a graceful stop, exit status 0
            try:
                assert process.wait(timeout=15) == 0, process.stderr.read()
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()


def _credentials(data: Path) -> tuple[str, str]:
    saved = json.loads((data / "credentials.json").read_text())
    return saved["account_sid"], saved["auth_token"]


def _sse_lines(stream: httpx.Response, wanted: int, timeout: float) -> list[dict]:
    found, deadline = [], time.monotonic() + timeout
    for line in stream.iter_lines():
        if line.startswith("data: "):
            found.append(json.loads(line[len("data: "):]))
            if len(found) == wanted:
                return found
        if time.monotonic() > deadline:
            break
    return found


def test_first_start_serves_the_api_streams_logs_and_restarts(tmp_path):
    data = tmp_path / "server"
    with running_server(data) as (url, printed):
        sid, token = _credentials(data)
        assert stat.S_IMODE((data / "credentials.json").stat().st_mode) == 0o600
        assert f"Created account {sid} with auth token {token}" in printed
        assert (data / "platform" / "platform.json").is_file() and (data / "microvisor.db").is_file()
        with httpx.Client(base_url=url, auth=(sid, token), timeout=10) as client:
            assert client.get("/v1/Devices", auth=(sid, "wrong")).status_code == 401
            device = client.post("/v1/Devices", data={
                "ChipUid": os.urandom(12).hex(),
                "PublicKey": keys.public_pem(keys.generate().public_key()).decode()}).json()["sid"]
            bundle = ("a.zip", app_bundle().to_bytes(), "application/zip")
            assert client.post("/v1/Apps", files={"File": bundle}).status_code == 201
            assert client.get("/v1/Devices").json()["meta"]["url"].startswith(url)

            # A link worker in another process stores log lines; the live stream delivers them.
            link = LinkGateway(Database(sqlite_url(data / "microvisor.db")), LogWakeups())
            with client.stream("GET", f"/v1/Devices/{device}/Logs/Stream", timeout=10) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                link.logs(device, "b1", 0, ["hello"])
                link.logs(device, "b1", 1, ["world"])
                lines = _sse_lines(stream, 2, timeout=8)
            link.database.dispose()
            assert [line["text"] for line in lines] == ["hello", "world"]
            first_sequence = lines[0]["sequence"]
            with client.stream("GET", f"/v1/Devices/{device}/Logs/Stream",
                               headers={"Last-Event-ID": str(first_sequence)}) as stream:
                assert [line["text"] for line in _sse_lines(stream, 1, timeout=8)] == ["world"]

    with running_server(data) as (url, printed):
        assert "Created account" not in printed
        assert _credentials(data) == (sid, token)
        devices = httpx.get(f"{url}/v1/Devices", auth=(sid, token)).json()["devices"]
        assert [d["sid"] for d in devices] == [device]


def test_postgresql_database(tmp_path):
    with throwaway_database() as database_url:
        plain = database_url.replace("postgresql+psycopg://", "postgresql://")
        with running_server(tmp_path / "server", "--database-url", plain) as (url, printed):
            assert "postgresql" in printed and not (tmp_path / "server" / "microvisor.db").exists()
            sid, token = _credentials(tmp_path / "server")
            assert httpx.get(f"{url}/v1/Apps", auth=(sid, token)).json()["apps"] == []


@pytest.mark.parametrize("arguments, expected", [
    (["--database-url", "mysql://nobody@127.0.0.1/none"], "mysql databases are not supported"),
    (["--database-url", "postgresql://nobody@127.0.0.1:1/none"], "cannot migrate"),
])
def test_startup_errors_are_one_sentence(tmp_path, arguments, expected):
    result = run_cli("server", "--data", str(tmp_path / "server"), "--port", "0", *arguments, timeout=60)
    assert result.returncode == 1
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
