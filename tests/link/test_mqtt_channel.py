"""MQTT channels end to end: the mqtt example on devices, a real server, real Mosquitto brokers (TLS too)."""

from __future__ import annotations

import datetime
import getpass
import json
import re
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from paho.mqtt.enums import CallbackAPIVersion

from .conftest import DeviceRun, Server, free_port, wait_until
from .test_link import create_device

TLS_HOST = "mqtt.example.test"  # brokers under names no DNS knows: the server's --resolve sends them home
OTHER_HOST = "other.example.test"
EXPIRED_HOST = "expired.example.test"
USER, PASSWORD = "device-user", "s3cret-pass"


class Pki:
    """A throwaway CA issuing server and client certificates (PEM)."""

    def __init__(self, name: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
                            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                            .not_valid_before(now - datetime.timedelta(days=1))
                            .not_valid_after(now + datetime.timedelta(days=1))
                            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                            .sign(self.key, hashes.SHA256()))
        self.pem = self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, name: str, *, server: bool, expired: bool = False) -> tuple[str, str]:
        """(certificate, key) PEM for a server `name` (its DNS name) or a client."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        end = now - datetime.timedelta(hours=1) if expired else now + datetime.timedelta(days=1)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(self.name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(end)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        return (certificate.public_bytes(serialization.Encoding.PEM).decode(),
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode())


class Broker:
    """A Mosquitto of the test's own on a free port of 127.0.0.1, logging everything to a file."""

    def __init__(self, folder: Path, *, tls: tuple[Pki, str, str] | None = None, password: bool = False):
        folder.mkdir(parents=True)
        self.folder = folder
        self.port = free_port()
        self.log_file = folder / "mosquitto.log"
        lines = [f"listener {self.port} 127.0.0.1", f"user {getpass.getuser()}", "persistence false",
                 "max_inflight_messages 1", f"log_dest file {self.log_file}", "log_type all"]
        if password:
            passwords = folder / "passwords"
            passwords.touch(mode=0o600)
            subprocess.run(["mosquitto_passwd", "-b", str(passwords), USER, PASSWORD], check=True,
                           capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        self.ca: Pki | None = None
        if tls is not None:
            self.ca, certificate, key = tls
            for name, text in (("ca.pem", self.ca.pem), ("server.pem", certificate), ("server-key.pem", key)):
                (folder / name).write_text(text)
            lines += [f"cafile {folder / 'ca.pem'}", f"certfile {folder / 'server.pem'}",
                      f"keyfile {folder / 'server-key.pem'}", "require_certificate true",
                      "use_identity_as_username false"]
        (folder / "mosquitto.conf").write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen(["mosquitto", "-c", str(folder / "mosquitto.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(lambda: self.log_file.exists() and "running" in self.log_file.read_text()
                   or self.process.poll() is not None, 10, "mosquitto to start")
        assert self.process.poll() is None, self.process.stderr.read().decode()

    @property
    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Peer:
    """The test's own MQTT client on a broker: what it receives, and publishing."""

    def __init__(self, broker: Broker, topic: str):
        self.received: list[tuple[str, bytes, int]] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"peer-{broker.port}",
                                  protocol=mqtt.MQTTv5)
        if broker.ca is not None:
            certificate, key = broker.ca.issue("peer", server=False)
            (broker.folder / "peer.pem").write_text(certificate)
            (broker.folder / "peer-key.pem").write_text(key)
            context = ssl.create_default_context(cafile=str(broker.folder / "ca.pem"))
            context.check_hostname = False  # it connects to 127.0.0.1
            context.load_cert_chain(broker.folder / "peer.pem", broker.folder / "peer-key.pem")
            self.client.tls_set_context(context)
        else:
            self.client.username_pw_set(USER, PASSWORD)
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, bytes(m.payload), m.qos))
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.client.subscribe(topic, qos=1)
        assert self._subscribed.wait(10), "the test's client did not subscribe"

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        self.client.publish(topic, payload, qos).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class World:
    server: Server
    plain: Broker
    tls: Broker  # under TLS_HOST, its CA the server's --channel-ca
    other: Broker  # under OTHER_HOST, a CA only the application gives
    expired: Broker  # under EXPIRED_HOST, a certificate that has expired
    pki: Pki
    other_pki: Pki
    app: str  # the mqtt example, uploaded


@pytest.fixture(scope="module")
def world(tmp_path_factory, examples) -> Iterator[World]:
    root = tmp_path_factory.mktemp("mqtt")
    pki, other_pki = Pki("mqtt test CA"), Pki("another CA")
    brokers = []
    try:
        plain = Broker(root / "plain", password=True)
        brokers.append(plain)
        tls = Broker(root / "tls", tls=(pki, *pki.issue(TLS_HOST, server=True)))
        brokers.append(tls)
        other = Broker(root / "other", tls=(other_pki, *other_pki.issue(OTHER_HOST, server=True)))
        brokers.append(other)
        expired = Broker(root / "expired", tls=(pki, *pki.issue(EXPIRED_HOST, server=True, expired=True)))
        brokers.append(expired)
        (root / "channel-ca.pem").write_text(pki.pem)
        resolve = [f"{host}:{broker.port}:127.0.0.1" for host, broker in
                   ((TLS_HOST, tls), (OTHER_HOST, other), (EXPIRED_HOST, expired))]
        server = Server(root / "server", root / "home", (
            "--allow-private-destinations", "--channel-ca", str(root / "channel-ca.pem"),
            *(option for entry in resolve for option in ("--resolve", entry))))
        server.start()
        try:
            bundle = root / "mqtt.zip"
            server.cli("apps", "bundle", str(examples / "mqtt" / "mqtt.elf"), str(bundle), "--unsigned")
            app = json.loads(server.cli("apps", "create", str(bundle), "--unique-name", "mqtt-example",
                                        "--json").stdout)["sid"]
            yield World(server, plain, tls, other, expired, pki, other_pki, app)
        finally:
            server.stop()
            server.proxy.close()
    finally:
        for broker in brokers:
            broker.close()


def prepare_device(world: World, folder: Path, config: dict[str, str], secrets: dict[str, str]) -> str:
    """A device with these configs and secrets, targeted with the mqtt example; its SID."""
    server = world.server
    sid = create_device(server, folder)
    server.cli("devices", "update", sid, "--logging", "--target-app", world.app)
    with server.api() as api:
        for key, value in config.items():
            api.post(f"/v1/Devices/{sid}/Configs", {"Key": key, "Value": value})
        for key, value in secrets.items():
            api.post(f"/v1/Devices/{sid}/Secrets", {"Key": key, "Value": value})
    return sid


def run_example(world: World, folder: Path) -> DeviceRun:
    """The device running: it fetches the example and runs it."""
    return DeviceRun(folder, world.server.env())


def converse(device: DeviceRun, peer: Peer, sid: str, window_test: bool) -> None:
    """Publish to the application's topic what it must log, as it subscribes, acknowledges and reads."""
    inbox = f"devices/{sid}/in"
    device.wait_for("mqtt: subscribed", timeout=60)
    peer.publish(inbox, b"ping", 1)
    device.wait_for("mqtt: acknowledged", timeout=20)
    if window_test:
        for index in range(3):  # 445 bytes each with the topic: the 1 KiB window holds two
            peer.publish(inbox, f"fill-{index}-".encode() + b"x" * 393, 0)
        peer.publish(inbox, b"L" * 1500, 0)  # more than the whole window: lost
        peer.publish(inbox, b"second", 1)  # the broker sends it only once "ping" is acknowledged
        device.wait_for("payload=second", timeout=30)
    peer.publish(inbox, b"bye", 0)
    device.wait_for("mqtt: DONE", timeout=30)


def test_plain_mqtt5_with_a_password_round_trip_flow_control_and_acks(world, tmp_path):
    config = {"mqtt-host": "127.0.0.1", "mqtt-port": str(world.plain.port), "mqtt-user": USER}
    sid = prepare_device(world, tmp_path / "dev", config, {"mqtt-password": PASSWORD})
    peer = Peer(world.plain, f"devices/{sid}/out")  # before the application says hello
    try:
        device = run_example(world, tmp_path / "dev")
        try:
            converse(device, peer, sid, window_test=True)
        finally:
            device.stop()
    finally:
        peer.close()
    output = device.output.text
    assert "mqtt: DONE pass=" in output and "fail=0" in output, output[-4000:]
    topic = f"devices/{sid}/in"
    assert f"mqtt: message topic={topic} qos=1 length=4 payload=ping" in output
    for index in range(3):
        assert f"qos=0 length=400 payload=fill-{index}-xxx" in output, output[-4000:]
    assert f"mqtt: lost topic={topic} length={1500 + len(topic)} reason=0" in output
    assert "qos=1 length=6 payload=second" in output
    order = [output.index(text) for text in ("payload=ping", "payload=fill-0", "payload=fill-1",
                                             "payload=fill-2", "mqtt: lost", "payload=second")]
    assert order == sorted(order)
    assert (f"devices/{sid}/out", b"hello", 1) in peer.received
    assert len(re.findall(rf"Received PUBACK from {sid}", world.plain.log)) >= 2  # the device's acks
    assert "Received DISCONNECT from " + sid in world.plain.log
    assert re.search(rf"device {sid}: MQTT channel \d+ connecting to 127.0.0.1:{world.plain.port}",
                     world.server.log)
    wait_until(lambda: re.search(rf"device {sid}: MQTT channel \d+'s bridge stopped", world.server.log), 10,
               "the bridge's thread to end with the channel")


def test_mqtt311_over_tls_with_a_client_certificate_trusting_the_server_ca(world, tmp_path):
    certificate, key = world.pki.issue("device", server=False)
    config = {"mqtt-host": TLS_HOST, "mqtt-port": str(world.tls.port), "mqtt-tls": "1", "mqtt-version": "3",
              "mqtt-cert": certificate}
    sid = prepare_device(world, tmp_path / "dev", config, {"mqtt-key": key})
    peer = Peer(world.tls, f"devices/{sid}/out")
    try:
        device = run_example(world, tmp_path / "dev")
        try:
            converse(device, peer, sid, window_test=False)
        finally:
            device.stop()
    finally:
        peer.close()
    output = device.output.text
    assert "mqtt: DONE pass=" in output and "fail=0" in output, output[-4000:]
    assert "(MQTT 3.1.1, TLS)" in output
    assert (f"devices/{sid}/out", b"hello", 1) in peer.received
    assert f"Received PUBACK from {sid}" in world.tls.log
    assert re.search(rf"New client connected from 127.0.0.1:\d+ as {sid} \(p2, c1, k60\)", world.tls.log)


def test_a_ca_the_application_gives_is_trusted_for_its_connection_only(world, tmp_path):
    base = {"mqtt-host": OTHER_HOST, "mqtt-port": str(world.other.port), "mqtt-tls": "1"}
    certificate, key = world.other_pki.issue("device", server=False)
    config = {**base, "mqtt-ca": world.other_pki.pem, "mqtt-cert": certificate}
    sid = prepare_device(world, tmp_path / "dev", config, {"mqtt-key": key})
    peer = Peer(world.other, f"devices/{sid}/out")
    try:
        device = run_example(world, tmp_path / "dev")
        try:
            converse(device, peer, sid, window_test=False)
        finally:
            device.stop()
    finally:
        peer.close()
    output = device.output.text
    assert "mqtt: DONE pass=" in output and "fail=0" in output, output[-4000:]


def test_connections_that_cannot_be_made_say_why(world, tmp_path):
    """NXDOMAIN (no such host), UNKNOWNCA (a CA neither the server nor the app trusts), CERTIFICATEEXPIRED:
    three devices at once."""
    cases = {"nowhere.invalid": (8883, 4), OTHER_HOST: (world.other.port, 5),
             EXPIRED_HOST: (world.expired.port, 6)}
    devices = {}
    try:
        for host, (port, _) in cases.items():
            folder = tmp_path / host
            prepare_device(world, folder, {"mqtt-host": host, "mqtt-port": str(port), "mqtt-tls": "1"}, {})
            devices[host] = run_example(world, folder)
        for device in devices.values():
            device.wait_for("mqtt: DONE", timeout=60)
    finally:
        for device in devices.values():
            device.stop()
    for host, (_, state) in cases.items():
        output = devices[host].output.text
        assert f"mqtt: connect state={state} reason=0" in output, f"{host}:\n{output[-3000:]}"


def test_a_broker_that_goes_away_closes_the_channel(world, tmp_path):
    broker = Broker(tmp_path / "broker")
    try:
        config = {"mqtt-host": "127.0.0.1", "mqtt-port": str(broker.port)}
        sid = prepare_device(world, tmp_path / "dev", config, {})
        device = run_example(world, tmp_path / "dev")
        try:
            device.wait_for("mqtt: subscribed", timeout=60)
            broker.close()
            device.wait_for("mqtt: DONE", timeout=30)
        finally:
            device.stop()
    finally:
        broker.close()
    output = device.output.text
    # CHANNELCLOSED, closed by the server (MV_CLOSUREREASON_CHANNELCLOSEDBYSERVER)
    assert "mqtt: the channel is gone (status 15, closure reason 1)" in output, output[-3000:]
    assert re.search(rf"MQTT channel \d+ of {sid}: the broker ended the session", world.server.log)
