"""The service's own Mosquitto broker: mutual TLS with platform certificates and per-device ACLs."""

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
import time
from dataclasses import dataclass
from pathlib import Path

from ..common import keys
from ..common.link import ROOT, SERVICE_IDENTITY
from ..common.platform import Platform

log = logging.getLogger(__name__)

BROKER_DIR = "broker"
PORT_FILE = "port"  # the port of the last start: devices were told it
MOSQUITTO = "mosquitto"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
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


def acl_text() -> str:
    """The service may use every link topic; a device only writes its up/ and reads its down/ subtree."""
    return (f"user {SERVICE_IDENTITY}\n"
            f"topic readwrite {ROOT}/#\n"
            "\n"
            f"pattern write {ROOT}/%u/up/#\n"
            f"pattern read {ROOT}/%u/down/#\n")


def config_text(folder: Path, host: str, port: int) -> str:
    return "\n".join([
        f"user {getpass.getuser()}",  # when started as root, stay root rather than drop to 'mosquitto'
        "per_listener_settings false",
        "allow_anonymous false",
        "persistence false",
        f"log_dest file {folder / 'mosquitto.log'}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
        f"acl_file {folder / 'acl'}",
        f"listener {port} {host}",
        "protocol mqtt",
        f"cafile {folder / 'ca.pem'}",
        f"certfile {folder / 'server.pem'}",
        f"keyfile {folder / 'server-key.pem'}",
        "require_certificate true",
        "use_identity_as_username true",
        "tls_version tlsv1.2",
        "",
    ])


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class Broker:
    """A running Mosquitto for one data folder; `stop()` ends it."""

    def __init__(self, folder: Path, host: str, port: int, process: subprocess.Popen, client: ClientFiles):
        self.folder = folder
        self.host = host
        self.port = port
        self.process = process
        self.client = client

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
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
    """Write DATA/broker (owner-only): CA, server certificate, service certificate, ACL, config."""
    folder = prepare_folder(data_dir)
    try:
        client = service_client_files(folder, platform)
        server_key = keys.generate()
        (folder / "server-key.pem").unlink(missing_ok=True)
        keys.write_private(folder / "server-key.pem", keys.private_pem(server_key))
        (folder / "server.pem").write_bytes(platform.issue_server_certificate(host, server_key.public_key()))
        (folder / "acl").write_text(acl_text())
        (folder / "mosquitto.conf").write_text(config_text(folder, host, port))
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
    (folder / "mosquitto.log").unlink(missing_ok=True)
    with open(folder / "mosquitto.stderr", "wb") as stderr:
        process = subprocess.Popen([executable, "-c", str(folder / "mosquitto.conf")],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                   preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerError(f"mosquitto stopped at once on {host}:{port}: {_reason(folder, process)}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        process.wait()
        raise BrokerError(f"mosquitto did not accept connections on {host}:{port} "
                          f"within {START_TIMEOUT_S:g} s")
    (folder / PORT_FILE).write_text(f"{port}\n")
    log.info("broker listening on %s:%d (mutual TLS)", host, port)
    return Broker(folder, host, port, process, client)


def _die_with_parent() -> None:
    """In the broker's process before exec: the kernel ends it when the server dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _reason(folder: Path, process: subprocess.Popen) -> str:
    text = ""
    for name in ("mosquitto.stderr", "mosquitto.log"):
        try:
            text += (folder / name).read_text(errors="replace")
        except OSError:
            pass
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {process.returncode}"
