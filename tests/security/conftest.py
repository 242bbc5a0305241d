"""Attackers' tools: a real server and broker, a second account, devices with their own real certificates
driven by hand over MQTT (a device's certificate used as an attacker would, not through our kernel)."""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from microvisor.common import keys
from microvisor.common import link as wire
from microvisor.common.api_client import ApiClient
from microvisor.common.bundle import build_app
from microvisor.common.sids import device_sid

from ..conftest import CLI
from ..link.conftest import Server, running_server, wait_until


@dataclass(frozen=True)
class Tenant:
    """One account of the server: its credentials and a client signed in as it."""

    server: Server
    sid: str
    token: str

    def api(self) -> ApiClient:
        return ApiClient(self.server.url, self.sid, self.token)

    def env(self) -> dict[str, str]:
        return {**self.server.env(), "MICROVISOR_ACCOUNT_SID": self.sid, "MICROVISOR_AUTH_TOKEN": self.token}


@dataclass(frozen=True)
class DeviceIdentity:
    """A registered device's own certificate and key (what an attacker holding one device has)."""

    sid: str
    certificate: str
    key: str
    ca: str


@dataclass
class MqttPeer:
    """A hand-driven MQTT client; what the broker answered and what arrived, recorded."""

    client: mqtt.Client
    sid: str  # whose certificate it presents
    connack: list[str] = field(default_factory=list)
    subacks: list[list[int]] = field(default_factory=list)
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    disconnects: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, prefix: str = "") -> list[tuple[str, bytes]]:
        with self.lock:
            return [m for m in self.messages if m[0].startswith(prefix)]

    def subscribe(self, *filters: str, timeout: float = 10) -> list[int]:
        """Subscribe and wait for the SUBACK: one reason code per filter (0x80 and above: refused)."""
        count = len(self.subacks)
        self.client.subscribe([(f, mqtt.SubscribeOptions(qos=1)) for f in filters])
        wait_until(lambda: len(self.subacks) > count, timeout, "the SUBACK")
        return self.subacks[count]

    def send(self, kind: str, message: dict) -> None:
        """Publish an up message of its own device (QoS 1)."""
        self.client.publish(wire.up(self.sid, kind), wire.encode(message), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(port: int, identity: DeviceIdentity, folder: Path, client_id: str | None = None,
            username: str | None = None, wait: bool = True) -> MqttPeer:
    """Connect to the broker with this identity's certificate (client id and username default to its SID)."""
    folder.mkdir(parents=True, exist_ok=True)
    certificate, key = folder / f"{identity.sid}.pem", folder / f"{identity.sid}.key"
    certificate.write_text(identity.certificate)
    key.write_text(identity.key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=identity.ca)
    context.load_cert_chain(str(certificate), str(key))
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or identity.sid,
                         protocol=mqtt.MQTTv5, reconnect_on_failure=False)
    client.tls_set_context(context)
    client.username_pw_set(username or identity.sid)
    peer = MqttPeer(client, identity.sid)

    def on_message(_c, _u, message):
        with peer.lock:
            peer.messages.append((message.topic, bytes(message.payload)))

    client.on_connect = lambda _c, _u, _f, reason, _p: peer.connack.append(str(reason))
    client.on_subscribe = lambda _c, _u, _m, codes, _p: peer.subacks.append([c.value for c in codes])
    client.on_disconnect = lambda _c, _u, _f, reason, _p: peer.disconnects.append(str(reason))
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    if wait:
        wait_until(lambda: peer.connack, 10, f"the broker's answer to {client_id or identity.sid}")
    return peer


def register(tenant: Tenant) -> DeviceIdentity:
    """Register a new device with its own key and CSR (POST /v1/Devices), as the factory would."""
    uid = os.urandom(12)
    sid = device_sid(uid)
    key = keys.generate()
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sid)]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    with tenant.api() as api:
        answer = api.post("/v1/Devices", {"ChipUid": uid.hex(), "Csr": csr})
    return DeviceIdentity(answer["sid"], answer["certificate"], keys.private_pem(key).decode(),
                          answer["ca_certificate"])


def upload_app(tenant: Tenant, size: int = 20_000, layer_size: int | None = None) -> dict:
    """Upload an unsigned app of random bytes; the App resource plus its layer hashes in order."""
    bundle = build_app(os.urandom(size), layer_size=layer_size)
    with tenant.api() as api:
        app = api.upload("/v1/Apps", "File", "app.zip", bundle.to_bytes(), {})
    return {**app, "layers": [layer.fetch_hash.hex() for layer in bundle.app_body().layers]}


def target(tenant: Tenant, device: str, app: dict) -> None:
    with tenant.api() as api:
        api.post(f"/v1/Devices/{device}", {"TargetApp": app["sid"], "LoggingEnabled": True})


def create_account(server: Server, name: str) -> Tenant:
    """A second tenant, made the supported way (`microvisor server accounts create`)."""
    import subprocess

    result = subprocess.run([str(CLI), "server", "accounts", "create", "--data", str(server.data), "--name",
                             name, "--json"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    made = json.loads(result.stdout)
    return Tenant(server, made["account_sid"], made["auth_token"])


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("security_server")) as running:
        yield running


@pytest.fixture(scope="module")
def tenants(server) -> tuple[Tenant, Tenant]:
    """The server's first account and a second one."""
    return Tenant(server, *server.credentials), create_account(server, "second tenant")


def settle(seconds: float = 1.0) -> None:
    """Let messages that should not arrive have every chance to."""
    time.sleep(seconds)
