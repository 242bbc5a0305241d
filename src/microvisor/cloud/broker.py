"""The service's own Mosquitto: mutual TLS with platform certificates, the link's access plugin, a watch."""

from __future__ import annotations

import ctypes
import getpass
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..common import keys
from ..common.link import ROOT, SERVICE_IDENTITY
from ..common.platform import Platform
from . import broker_access

log = logging.getLogger(__name__)

BROKER_DIR = "broker"
PORT_FILE = "port"  # the port of the last start: devices were told it
MOSQUITTO = "mosquitto"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
MAX_RESTARTS = 5  # within RESTART_WINDOW_S; then the server gives up
RESTART_WINDOW_S = 60.0
MAX_PACKET_SIZE = 256 * 1024
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class BrokerError(Exception):
    """The broker cannot be set up or started; the message says why."""


@dataclass(frozen=True)
class ClientFiles:
    """What an MQTT client of the broker needs: the CA to trust, its certificate and key (PEM files)."""

    ca: Path
    certificate: Path
    key: Path


def service_client_files(folder: Path, platform: Platform) -> ClientFiles:
    """The service's client certificate (CN = SERVICE_IDENTITY) in `folder`, issued once by the CA."""
    files = ClientFiles(folder / "ca.pem", folder / "service.pem", folder / "service-key.pem")
    if not (files.certificate.exists() and files.key.exists()):
        key = keys.generate()
        keys.write_private(files.key, keys.private_pem(key))
        files.certificate.write_bytes(platform.issue_certificate(SERVICE_IDENTITY, key.public_key()))
    files.ca.write_bytes(platform.ca_pem())
    return files


def config_text(folder: Path, host: str, port: int, plugin: Path) -> str:
    return "\n".join([
        f"user {getpass.getuser()}",  # when started as root, stay root rather than drop to 'mosquitto'
        "per_listener_settings false",
        "allow_anonymous false",
        "persistence false",
        f"max_packet_size {MAX_PACKET_SIZE}",  # larger than any link message; bounds what one client sends
        "set_tcp_nodelay true",  # a link message goes at once, not after the peer's delayed ACK
        f"log_dest file {folder / 'mosquitto.log'}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
        f"plugin {plugin}",  # the link's access rules (cloud/broker_access.py)
        f"plugin_opt_root {ROOT}",
        f"plugin_opt_service {SERVICE_IDENTITY}",
        f"listener {port} {host}",
        "protocol mqtt",
        f"cafile {folder / 'ca.pem'}",
        f"certfile {folder / 'server.pem'}",
        f"keyfile {folder / 'server-key.pem'}",
        "require_certificate true",
        "use_identity_as_username false",  # the plugin checks username and client id against the CN
        "tls_version tlsv1.2",
        "",
    ])


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class Broker:
    """Our Mosquitto for one data folder: started, watched (restarted if it dies) and stopped.

    When the process ends without `stop()`, it is started again on the same port (devices and link
    workers reconnect by themselves, and devices keep every log line until it is acknowledged). When
    it cannot be started again, or dies more than MAX_RESTARTS times within RESTART_WINDOW_S,
    `on_give_up(reason)` is called once, from the watching thread.
    """

    def __init__(self, folder: Path, host: str, port: int, executable: str, client: ClientFiles):
        self.folder = folder
        self.host = host
        self.port = port
        self.executable = executable
        self.client = client
        self.process: subprocess.Popen | None = None
        self.restarts: list[float] = []  # monotonic times of the restarts so far
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def launch(self) -> None:
        """Start the process and return once it accepts connections; raises BrokerError."""
        (self.folder / "mosquitto.log").unlink(missing_ok=True)
        with open(self.folder / "mosquitto.stderr", "wb") as stderr:
            process = subprocess.Popen([self.executable, "-c", str(self.folder / "mosquitto.conf")],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                       preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BrokerError(f"mosquitto stopped at once on {self.address}: "
                                  f"{_reason(self.folder, process)}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            process.kill()
            process.wait()
            raise BrokerError(f"mosquitto did not accept connections on {self.address} "
                              f"within {START_TIMEOUT_S:g} s")
        with self._lock:
            self.process = process

    def supervise(self, on_give_up: Callable[[str], None]) -> None:
        """Watch the process from a thread of its own (see the class)."""
        self._watcher = threading.Thread(target=self._watch, args=(on_give_up,), name="broker-watch",
                                         daemon=True)
        self._watcher.start()

    def _watch(self, on_give_up: Callable[[str], None]) -> None:
        while not self._stopping.is_set():
            process = self.process
            assert process is not None
            process.wait()  # reaps it: no zombie is left behind
            if self._stopping.is_set():
                return
            reason = _reason(self.folder, process)
            now = time.monotonic()
            self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW_S] + [now]
            if len(self.restarts) > MAX_RESTARTS:
                on_give_up(f"the device broker died {len(self.restarts)} times within "
                           f"{RESTART_WINDOW_S:g} s (last: {reason})")
                return
            log.warning("the device broker on %s died (%s); starting it again", self.address, reason)
            try:
                self.launch()
            except BrokerError as exc:
                on_give_up(f"the device broker died ({reason}) and cannot be started again: {exc}")
                return
            log.warning("the device broker on %s is back (restart %d)", self.address, len(self.restarts))

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._watcher is not None:
            self._watcher.join(timeout=STOP_TIMEOUT_S)
        log.info("broker on %s stopped", self.address)


def prepare_folder(data_dir: Path) -> Path:
    """DATA/broker, owner-only."""
    folder = Path(data_dir) / BROKER_DIR
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    except OSError as exc:
        raise BrokerError(f"cannot make {folder}: {exc.strerror or exc}") from None
    return folder


def prepare(data_dir: Path, platform: Platform, host: str, port: int) -> tuple[Path, ClientFiles]:
    """Write DATA/broker (owner-only): CA, server and service certificates, access plugin, config."""
    folder = prepare_folder(data_dir)
    try:
        plugin = broker_access.plugin_path(folder)
        client = service_client_files(folder, platform)
        server_key = keys.generate()
        (folder / "server-key.pem").unlink(missing_ok=True)
        keys.write_private(folder / "server-key.pem", keys.private_pem(server_key))
        (folder / "server.pem").write_bytes(platform.issue_server_certificate(host, server_key.public_key()))
        (folder / "acl").unlink(missing_ok=True)  # the ACL file of earlier versions
        (folder / "mosquitto.conf").write_text(config_text(folder, host, port, plugin))
    except broker_access.PluginBuildError as exc:
        raise BrokerError(str(exc)) from None
    except OSError as exc:
        raise BrokerError(f"cannot write the broker's files in {folder}: {exc.strerror or exc}") from None
    return folder, client


def remembered_port(data_dir: Path) -> int | None:
    try:
        return int((Path(data_dir) / BROKER_DIR / PORT_FILE).read_text())
    except (OSError, ValueError):
        return None


def start(data_dir: Path, platform: Platform, host: str = "127.0.0.1", port: int | None = None) -> Broker:
    """Configure and start Mosquitto on host:port; returns once it accepts connections.

    Without a port, the one the data folder remembers from the last start (devices were told it), or
    on the first start a free one; 0 always picks a free one.
    """
    executable = shutil.which(MOSQUITTO) or shutil.which(MOSQUITTO, path="/usr/sbin:/usr/local/sbin")
    if executable is None:
        raise BrokerError("mosquitto is not installed (apt install mosquitto), and no --broker-url was given")
    if port is None:
        port = remembered_port(data_dir)
    port = port or free_port(host)
    folder, client = prepare(data_dir, platform, host, port)
    broker = Broker(folder, host, port, executable, client)
    broker.launch()
    (folder / PORT_FILE).write_text(f"{port}\n")
    log.info("broker listening on %s:%d (mutual TLS)", host, port)
    return broker


def _die_with_parent() -> None:
    """In the broker's process before exec: the kernel ends it when the server dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _reason(folder: Path, process: subprocess.Popen) -> str:
    """Why the process ended: the signal that killed it, else the last line it wrote."""
    if process.returncode is not None and process.returncode < 0:
        try:
            return f"killed by {signal.Signals(-process.returncode).name}"
        except ValueError:
            return f"killed by signal {-process.returncode}"
    text = ""
    for name in ("mosquitto.stderr", "mosquitto.log"):
        try:
            text += (folder / name).read_text(errors="replace")
        except OSError:
            pass
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {process.returncode}"
