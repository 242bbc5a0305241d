"""Devices: registration (certificate, kernel), fetch and list, and the updates a developer asks for."""

from __future__ import annotations

import base64
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from microvisor.common import keys
from microvisor.common.bundle import Bundle
from microvisor.common.sids import device_sid

from .conftest import app_bundle


def _csr(key: keys.PrivateKey) -> str:
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device")])).sign(key, hashes.SHA256())
    return request.public_bytes(Encoding.PEM).decode()


def test_registration_issues_a_certificate_for_the_chip_sid_and_the_kernel(api, service):
    key, uid = keys.generate(), os.urandom(12)
    device = api.register(ChipUid=uid.hex(), Csr=_csr(key), UniqueName="bench-1")
    assert device["sid"] == device_sid(uid) and device["unique_name"] == "bench-1"
    certificate = x509.load_pem_x509_certificate(device["certificate"].encode())
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == device["sid"]
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
    ca = x509.load_pem_x509_certificate(device["ca_certificate"].encode())
    ca.public_key().verify(certificate.signature, certificate.tbs_certificate_bytes,
                           ec.ECDSA(certificate.signature_hash_algorithm))
    kernel = Bundle.from_bytes(base64.b64decode(device["kernel_bundle"]))
    assert kernel.signed_by(service.platform.kernel_key.public_key())
    assert device["app"]["update_status"] == "up-to-date" and device["app"]["target_sid"] is None
    assert device["connection"] == {"connected": False, "date_changed": None}

    fetched = api.get(f"/v1/Devices/{device['sid']}").json()
    assert "certificate" not in fetched
    assert api.get("/v1/Devices/bench-1").json()["sid"] == device["sid"]
    assert [d["sid"] for d in api.get("/v1/Devices").json()["devices"]] == [device["sid"]]
    events = api.get(f"/v1/Devices/{device['sid']}/Events").json()["events"]
    assert [e["type"] for e in events] == ["registered"]


def test_registering_again_reissues_and_another_account_cannot_take_the_chip(api, other_api):
    uid = os.urandom(12).hex()
    first = api.register(ChipUid=uid)
    again = api.post("/v1/Devices", data={"ChipUid": uid, "PublicKey": keys.public_pem(
        keys.generate().public_key()).decode()})
    assert again.status_code == 200 and again.json()["sid"] == first["sid"]
    assert again.json()["certificate"] != first["certificate"]
    taken = other_api.post("/v1/Devices", data={"ChipUid": uid, "PublicKey": keys.public_pem(
        keys.generate().public_key()).decode()})
    assert taken.status_code == 409


def test_registration_checks_its_input(api):
    public = keys.public_pem(keys.generate().public_key()).decode()
    assert api.post("/v1/Devices", data={"ChipUid": "zz", "PublicKey": public}).status_code == 400
    assert api.post("/v1/Devices", data={"ChipUid": "00" * 11, "PublicKey": public}).status_code == 400
    assert api.post("/v1/Devices", data={"ChipUid": "00" * 12}).status_code == 400
    assert api.post("/v1/Devices", data={"ChipUid": "00" * 12, "PublicKey": "nope"}).status_code == 400
    p384 = ec.generate_private_key(ec.SECP384R1())
    response = api.post("/v1/Devices", data={"ChipUid": "00" * 12, "Csr": _csr(p384)})
    assert response.status_code == 400 and "P-256" in response.json()["message"]


def test_target_app_makes_the_update_pending(api):
    app = api.upload(app_bundle(), UniqueName="v2").json()
    sid = api.register()["sid"]
    response = api.post(f"/v1/Devices/{sid}", data={"TargetApp": "v2"})
    assert response.status_code == 200, response.text
    device_app = response.json()["app"]
    assert device_app["target_sid"] == app["sid"] and device_app["target_hash"] == app["hash"]
    assert device_app["update_status"] == "pending" and device_app["update_error_code"] == 0
    assert device_app["date_targeted"] is not None and device_app["reported_sid"] is None
    assert api.get(f"/v1/Devices/{sid}").json()["app"]["update_status"] == "pending"

    unknown = api.post(f"/v1/Devices/{sid}", data={"TargetApp": "KA" + "0" * 32})
    assert unknown.status_code == 400
    cleared = api.post(f"/v1/Devices/{sid}", data={"TargetApp": ""}).json()["app"]
    assert cleared["target_sid"] is None and cleared["update_status"] == "up-to-date"


def test_name_logging_and_restarts(api, other_api, service):
    sid = api.register()["sid"]
    named = api.post(f"/v1/Devices/{sid}", data={"UniqueName": "porch", "LoggingEnabled": "true"}).json()
    assert named["unique_name"] == "porch"
    assert named["logging"]["enabled"] is True and named["logging"]["date_expires"] is not None
    second = api.register()["sid"]
    assert api.post(f"/v1/Devices/{second}", data={"UniqueName": "porch"}).status_code == 409
    other_api.register(UniqueName="porch")  # names are per account

    off = api.post("/v1/Devices/porch", data={"LoggingEnabled": "false", "UniqueName": ""}).json()
    assert off["logging"] == {"enabled": False, "date_expires": None} and off["unique_name"] is None

    assert api.post(f"/v1/Devices/{sid}", data={"RestartApp": "true"}).status_code == 200
    assert api.post(f"/v1/Devices/{sid}", data={"RestartDevice": "true"}).status_code == 200
    assert [c.kind for c in service.link.pending_commands(sid)] == ["restart-app", "restart-device"]
    events = [e["type"] for e in api.get(f"/v1/Devices/{sid}/Events").json()["events"]]
    assert events.count("restart-requested") == 2
