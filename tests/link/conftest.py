"""Link tests: a real server with its Mosquitto, real device processes, a TCP proxy in between to cut."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from microvisor.common.api_client import ApiClient

from ..conftest import CLI, ROOT, TOOLCHAIN, _require_toolchain

APPS = Path(__file__).resolve().parent / "apps"
LISTENING = re.compile(r"listening on (http://\S+)")
START_TIMEOUT = 30.0


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> object:
    """Poll until predicate() is truthy; its value, or AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lines:
    """Everything a process writes to one stream, collected by a thread."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class Proxy:
    """A TCP relay in front of the broker: it can slow the broker-to-device direction and cut every link."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.rate: float | None = None  # bytes/s towards devices; None: as fast as it goes
        self.down_bytes = 0
        self.refusing = False
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, towards_device: bool) -> None:
        try:
            while True:
                data = source.recv(4096 if towards_device and self.rate else 65536)
                if not data:
                    break
                sink.sendall(data)
                if towards_device:
                    self.down_bytes += len(data)
                    if self.rate:
                        time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def cut(self, hold_s: float) -> None:
        """Drop every connection and refuse new ones for hold_s."""
        self.refusing = True
        with self._lock:
            connections, self._connections = self._connections, []
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        time.sleep(hold_s)
        self.refusing = False

    def close(self) -> None:
        self._listener.close()
        self.cut(0)


class Server:
    """`microvisor server` on a data folder, its broker behind a Proxy; `stop()` and `start()` again.

    With `extra` ("--broker-url", …) and that broker's `broker_port`, a server using another's broker.
    """

    def __init__(self, data: Path, home: Path, extra: tuple[str, ...] = (), broker_port: int | None = None):
        self.data = data
        self.home = home
        self.extra = extra  # more `microvisor server` options
        self.broker_port = broker_port or free_port()
        self.proxy = Proxy(self.broker_port)
        self.process: subprocess.Popen | None = None
        self.stderr: Lines | None = None
        self.url = ""

    def start(self) -> None:
        command = [str(CLI), "server", "--data", str(self.data), "--port", "0", "--log-level", "info",
                   "--broker-port", str(self.broker_port), "--broker-public", f"127.0.0.1:{self.proxy.port}",
                   *self.extra]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr, stdout = Lines(self.process.stderr), Lines(self.process.stdout)
        try:
            match = wait_until(lambda: LISTENING.search(stdout.text) or self.process.poll() is not None,
                               START_TIMEOUT, "the server to listen")
        except AssertionError:
            match = None
        if not isinstance(match, re.Match):
            self.process.kill()
            raise AssertionError(f"the server did not start: {stdout.text}\n{self.stderr.text}")
        self.url = match.group(1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def log(self) -> str:
        return self.stderr.text if self.stderr else ""

    @property
    def credentials(self) -> tuple[str, str]:
        saved = json.loads((self.data / "credentials.json").read_text())
        return saved["account_sid"], saved["auth_token"]

    def env(self) -> dict[str, str]:
        sid, token = self.credentials
        return {**os.environ, "MICROVISOR_URL": self.url, "MICROVISOR_ACCOUNT_SID": sid,
                "MICROVISOR_AUTH_TOKEN": token, "XDG_CONFIG_HOME": str(self.home)}

    def api(self) -> ApiClient:
        return ApiClient(self.url, *self.credentials)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        result = subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=timeout,
                                env=self.env(), check=False)
        assert result.returncode == 0, f"microvisor {' '.join(args)}: {result.stdout}{result.stderr}"
        return result


class SseStream:
    """A server-sent-events GET read by a thread: its status and its events (id, event, data) as they come."""

    def __init__(self, server: Server, path: str, auth: tuple[str, str] | None = None, **params: str):
        self.events: list[tuple[str | None, str, dict]] = []
        self.status: int | None = None
        self._client = httpx.Client(base_url=server.url, auth=auth or server.credentials, timeout=None)
        self._opened = threading.Event()
        threading.Thread(target=self._read, args=(path, params), daemon=True).start()
        assert self._opened.wait(10), f"the stream {path} did not open"

    def _read(self, path: str, params: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", path, params=params) as response:
                self.status = response.status_code
                self._opened.set()
                event_id, name, data = None, "message", []
                for line in response.iter_lines():
                    if line.startswith("id: "):
                        event_id = line[4:]
                    elif line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                    elif not line and data:
                        self.events.append((event_id, name, json.loads("\n".join(data))))
                        event_id, name, data = None, "message", []
        except httpx.HTTPError:
            pass
        finally:
            self._opened.set()

    def close(self) -> None:
        self._client.close()


class DeviceRun:
    """`microvisor device run DIR` as a process; its output collected as it comes."""

    def __init__(self, directory: Path, env: dict[str, str], *options: str):
        self.process = subprocess.Popen([str(CLI), "device", "run", str(directory), *options],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.output = Lines(self.process.stdout)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        wait_until(lambda: text in self.output.text or self.process.poll() is not None, timeout,
                   f"{text!r} from the device")
        assert text in self.output.text, f"the device ended without {text!r}:\n{self.output.text[-3000:]}"

    def stop(self, sig: int = signal.SIGINT) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def link_apps(tmp_path_factory) -> dict[str, Path]:
    """linklog v1 and v2 (one byte apart) and a big one: name -> ELF."""
    _require_toolchain()
    build = tmp_path_factory.mktemp("link_apps")
    rng = random.Random(1234)
    (build / "payload.bin").write_bytes(rng.randbytes(64 * 1024))
    (build / "big.bin").write_bytes(rng.randbytes(400 * 1024))
    subprocess.run(["cmake", "-S", str(APPS), "-B", str(build / "out"), f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN}",
                    f"-DPAYLOAD={build / 'payload.bin'}", f"-DBIG_PAYLOAD={build / 'big.bin'}"],
                   check=True, capture_output=True, cwd=ROOT)
    result = subprocess.run(["cmake", "--build", str(build / "out"), "-j", str(os.cpu_count() or 2)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return {name: build / "out" / f"linklog_{name}" / f"linklog_{name}.elf" for name in ("v1", "v2", "big")}


@contextlib.contextmanager
def running_server(root: Path) -> Iterator[Server]:
    """A started server in root/server (CLI home root/home), stopped on the way out."""
    running = Server(root / "server", root / "home")
    running.start()
    try:
        yield running
    finally:
        running.stop()
        running.proxy.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("link_server")) as running:
        yield running


@pytest.fixture(scope="module")
def apps(server: Server, link_apps: dict[str, Path], tmp_path_factory) -> dict[str, dict]:
    """The three apps bundled with 8 KiB layers and uploaded: name -> the service's App resource."""
    folder = tmp_path_factory.mktemp("bundles")
    uploaded = {}
    for name, elf in link_apps.items():
        bundle = folder / f"{name}.zip"
        server.cli("apps", "bundle", str(elf), str(bundle), "--unsigned", "--layer-size", "8192")
        result = server.cli("apps", "create", str(bundle), "--unique-name", f"linklog-{name}", "--json")
        uploaded[name] = {**json.loads(result.stdout), "bundle": bundle}
    return uploaded


@pytest.fixture
def servers(tmp_path) -> Iterator[tuple[Server, Server]]:
    """A: the database and its own Mosquitto; B: the same database and data folder (platform, CA,
    account), A's broker through --broker-url."""
    from ..cloud.postgres import throwaway_database

    with throwaway_database() as url:
        first = Server(tmp_path / "server", tmp_path / "home", ("--database-url", url))
        second = Server(tmp_path / "server", tmp_path / "home",
                        ("--database-url", url, "--broker-url", f"127.0.0.1:{first.broker_port}"),
                        broker_port=first.broker_port)
        try:
            first.start()
            second.start()
            yield first, second
        finally:
            for running in (second, first):
                running.stop()
                running.proxy.close()
