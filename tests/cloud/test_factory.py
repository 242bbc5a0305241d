"""The factory's service side: cards, challenges, certification from attestations, results and refusals."""

from __future__ import annotations

import base64
import datetime
import json
import os
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from microvisor.cloud.clock import utc_now
from microvisor.cloud.models import Account
from microvisor.cloud.store import factory
from microvisor.cloud.store.accounts import set_disabled
from microvisor.common import factory_protocol, keys
from microvisor.common.factory_protocol import Attestation, chip_key, read_provisioning
from microvisor.common.sids import device_sid

from .conftest import Api

ERROR_FIELDS = {"code", "message", "more_info", "status"}
STATION = "line-1"


@dataclass
class Card:
    sid: str
    key: keys.PrivateKey
    certificate: bytes


def make_card(service, account_sid: str, licences: int = 5, root_key: keys.PrivateKey | None = None) -> Card:
    """A card as the platform operator makes one: a record in the store, a certificate signed by the root."""
    key = keys.generate()
    raw = keys.raw_public(key.public_key())
    with service.database.transaction() as session:
        sid = factory.create_card(session, account_sid, raw, licences).sid
    certificate = factory_protocol.issue_card_certificate(root_key or service.platform.root_key, sid,
                                                          account_sid, raw, licences)
    return Card(sid, key, certificate)


def challenge(api: Api) -> bytes:
    response = api.post("/v1/Factory/Challenges")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"challenge", "date_expires"} and body["date_expires"].endswith("Z")
    return bytes.fromhex(body["challenge"])


def make_csr(key: keys.PrivateKey, common_name: str) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode()


def attest(service, card: Card, uid: bytes, challenge_bytes: bytes, *,
           device_key: keys.PrivateKey | None = None, csr: str | None = None,
           authorized_uid: bytes | None = None, master: bytes | None = None,
           certificate: bytes | None = None) -> Attestation:
    """An attestation as the chip's test program makes it: the card's authorization for this chip and
    nonce, the device's CSR, the challenge, countersigned with the chip key."""
    nonce = os.urandom(factory_protocol.NONCE_SIZE)
    authorization = keys.sign(card.key, factory_protocol.authorization_message(authorized_uid or uid, nonce))
    if csr is None:
        csr = make_csr(device_key or keys.generate(), device_sid(uid))
    attestation = Attestation(uid, csr, certificate or card.certificate, nonce, authorization,
                              challenge_bytes)
    return attestation.countersigned(chip_key(master or service.platform.sfi_master(), uid))


def certify(api: Api, attestation: Attestation | str, station: str | None = STATION):
    text = attestation if isinstance(attestation, str) else attestation.to_json()
    data = {"Attestation": text}
    if station is not None:
        data["Station"] = station
    return api.post("/v1/Factory/Certificates", data=data)


def rejections(api: Api) -> list[dict]:
    response = api.get("/v1/Factory/Rejections")
    assert response.status_code == 200, response.text
    return response.json()["rejections"]


def refused(api: Api, response, status: int, words: str, *, card_sid: str | None = None,
            chip_uid: bytes | None = None, station: str | None = STATION) -> dict:
    """The response is the v1 error, and the refusal is the account's newest rejection."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_FIELDS and body["status"] == status
    assert words in body["message"], body["message"]
    recorded = rejections(api)[-1]
    assert recorded["status"] == status and recorded["reason"] == body["message"]
    assert recorded["card_sid"] == card_sid
    assert recorded["chip_uid"] == (chip_uid.hex() if chip_uid is not None else None)
    assert recorded["station"] == station
    return recorded


def card_resource(api: Api, sid: str) -> dict:
    response = api.get(f"/v1/Factory/Cards/{sid}")
    assert response.status_code == 200, response.text
    return response.json()


def account_id(service, sid: str) -> int:
    with service.database.transaction() as session:
        return session.scalar(select(Account.id).where(Account.sid == sid))


# --- success, retries, clones ------------------------------------------------------------------------
def test_a_chip_is_certified_registered_and_uses_a_licence(service, api):
    card = make_card(service, api.sid, licences=2)
    uid = os.urandom(12)
    issued = challenge(api)
    response = certify(api, attest(service, card, uid, issued))
    assert response.status_code == 201, response.text
    body = response.json()
    provisioning = read_provisioning(body["provisioning"], service.platform.root_key_hash, issued)
    assert provisioning.certificate_pem == body["certificate"]
    assert provisioning.ca_pem == body["ca_certificate"]
    sid = device_sid(uid)
    assert body["device_sid"] == sid and body["chip_uid"] == uid.hex() and body["card_sid"] == card.sid
    assert body["station"] == STATION and body["url"] == f"http://mv.test/v1/Factory/Certificates/{sid}"
    assert body["ca_certificate"] == service.platform.ca_pem().decode()
    assert "broker" in body and body["date_created"].endswith("Z")
    certificate = x509.load_pem_x509_certificate(body["certificate"].encode())
    certificate.verify_directly_issued_by(service.platform.ca_cert)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == sid

    device = api.get(f"/v1/Devices/{sid}")
    assert device.status_code == 200 and device.json()["account_sid"] == api.sid
    resource = card_resource(api, card.sid)
    assert (resource["licences"], resource["licences_used"], resource["licences_left"]) == (2, 1, 1)
    assert resource["account_sid"] == api.sid and resource["revoked"] is False
    assert resource["public_key"] == keys.raw_public(card.key.public_key()).hex()

    listed = api.get("/v1/Factory/Certificates").json()["certificates"]
    assert [(item["device_sid"], item["card_sid"], item["station"]) for item in listed] == [(sid, card.sid,
                                                                                               STATION)]
    assert "certificate" not in listed[0]
    fetched = api.get(f"/v1/Factory/Certificates/{sid}").json()
    assert fetched["certificate"] == body["certificate"]
    assert api.get("/v1/Factory/Certificates", params={"CardSid": card.sid}).json()["certificates"]
    assert not api.get("/v1/Factory/Certificates", params={"Station": "line-2"}).json()["certificates"]
    assert rejections(api) == []


def test_the_same_chip_with_the_same_key_gets_its_certificate_again(service, api):
    card = make_card(service, api.sid, licences=1)
    uid, device_key = os.urandom(12), keys.generate()
    first = certify(api, attest(service, card, uid, challenge(api), device_key=device_key))
    assert first.status_code == 201, first.text
    again = certify(api, attest(service, card, uid, challenge(api), device_key=device_key), station="line-2")
    assert again.status_code == 200, again.text  # a retry after a power cut, though the card is used up
    assert again.json()["certificate"] == first.json()["certificate"]
    assert again.json()["station"] == STATION  # the record of the first certification
    assert card_resource(api, card.sid)["licences_used"] == 1
    assert rejections(api) == []


def test_the_same_chip_with_another_key_is_a_clone(service, api):
    card = make_card(service, api.sid)
    uid = os.urandom(12)
    assert certify(api, attest(service, card, uid, challenge(api))).status_code == 201
    response = certify(api, attest(service, card, uid, challenge(api)))
    refused(api, response, 409, "certified already", card_sid=card.sid, chip_uid=uid)
    assert card_resource(api, card.sid)["licences_used"] == 1


def test_a_device_of_another_account_is_not_taken_over(service, api, other_api):
    card = make_card(service, api.sid)
    uid = os.urandom(12)
    other_api.register(ChipUid=uid.hex())
    response = certify(api, attest(service, card, uid, challenge(api)))
    refused(api, response, 409, "another account", card_sid=card.sid, chip_uid=uid)
    assert card_resource(api, card.sid)["licences_used"] == 0  # the licence went back with the transaction
    assert api.get("/v1/Factory/Certificates").json()["certificates"] == []


# --- challenges ------------------------------------------------------------------------------------
def test_a_replayed_attestation_is_refused(service, api):
    card = make_card(service, api.sid)
    uid = os.urandom(12)
    attestation = attest(service, card, uid, challenge(api))
    assert certify(api, attestation).status_code == 201
    refused(api, certify(api, attestation), 409, "used already", card_sid=card.sid, chip_uid=uid)


def test_an_unknown_or_expired_challenge_is_refused(service, api):
    card = make_card(service, api.sid)
    uid = os.urandom(12)
    response = certify(api, attest(service, card, uid, os.urandom(16)))
    refused(api, response, 400, "not issued to this account", card_sid=card.sid, chip_uid=uid)
    with service.database.transaction() as session:
        old = factory.create_challenge(session, account_id(service, api.sid),
                                       now=utc_now() - datetime.timedelta(minutes=11))
        expired = bytes.fromhex(old.challenge)
    response = certify(api, attest(service, card, uid, expired))
    refused(api, response, 400, "expired", card_sid=card.sid, chip_uid=uid)
    assert api.get("/v1/Factory/Certificates").json()["certificates"] == []


def test_another_accounts_challenge_is_refused(service, api, other_api):
    card = make_card(service, api.sid)
    uid = os.urandom(12)
    response = certify(api, attest(service, card, uid, challenge(other_api)))
    refused(api, response, 400, "not issued to this account", card_sid=card.sid, chip_uid=uid)


def test_a_refused_attestation_does_not_spend_the_challenge_before_its_turn(service, api):
    card = make_card(service, api.sid)
    uid, fresh = os.urandom(12), challenge(api)
    forged = attest(service, card, uid, fresh, master=os.urandom(32))
    refused(api, certify(api, forged), 400, "countersigned", card_sid=card.sid, chip_uid=uid)
    assert certify(api, attest(service, card, uid, fresh)).status_code == 201


# --- the chip's and the card's proofs ----------------------------------------------------------------
def test_a_forged_countersignature_is_refused(service, api):
    card = make_card(service, api.sid)
    uid = os.urandom(12)
    response = certify(api, attest(service, card, uid, challenge(api), master=os.urandom(32)))
    refused(api, response, 400, "not countersigned by the test program", card_sid=card.sid, chip_uid=uid)


def test_an_authorization_for_another_chip_is_refused(service, api):
    card = make_card(service, api.sid)
    uid = os.urandom(12)
    response = certify(api, attest(service, card, uid, challenge(api), authorized_uid=os.urandom(12)))
    refused(api, response, 400, "SFI authorization", card_sid=card.sid, chip_uid=uid)


def test_a_csr_naming_another_chip_is_refused(service, api):
    card = make_card(service, api.sid)
    uid = os.urandom(12)
    csr = make_csr(keys.generate(), device_sid(os.urandom(12)))
    response = certify(api, attest(service, card, uid, challenge(api), csr=csr))
    refused(api, response, 400, "common name", card_sid=card.sid, chip_uid=uid)
    assert card_resource(api, card.sid)["licences_used"] == 0


def test_a_csr_not_signed_by_its_key_is_refused(service, api):
    card = make_card(service, api.sid)
    uid = os.urandom(12)
    der = bytearray(x509.load_pem_x509_csr(make_csr(keys.generate(), device_sid(uid)).encode())
                    .public_bytes(serialization.Encoding.DER))
    der[-1] ^= 1  # the last byte of the signature's s
    text = base64.encodebytes(bytes(der)).decode().replace("\n", "")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    csr = "\n".join(["-----BEGIN CERTIFICATE REQUEST-----", *lines, "-----END CERTIFICATE REQUEST-----", ""])
    assert not x509.load_pem_x509_csr(csr.encode()).is_signature_valid
    response = certify(api, attest(service, card, uid, challenge(api), csr=csr))
    refused(api, response, 400, "not signed by the key it holds", card_sid=card.sid, chip_uid=uid)


def test_a_csr_that_is_no_csr_is_refused(service, api):
    card = make_card(service, api.sid)
    uid = os.urandom(12)
    response = certify(api, attest(service, card, uid, challenge(api), csr="not a CSR"))
    refused(api, response, 400, "not a PEM certificate signing request", card_sid=card.sid, chip_uid=uid)


def test_another_accounts_card_is_foreign(service, api, other_api):
    card = make_card(service, other_api.sid)
    uid = os.urandom(12)
    response = certify(api, attest(service, card, uid, challenge(api)))
    refused(api, response, 403, "foreign card", card_sid=card.sid, chip_uid=uid)
    assert rejections(other_api) == []
    assert card_resource(other_api, card.sid)["licences_used"] == 0


def test_a_revoked_card_is_refused(service, api):
    card = make_card(service, api.sid)
    assert certify(api, attest(service, card, os.urandom(12), challenge(api))).status_code == 201
    with service.database.transaction() as session:
        factory.revoke_card(session, card.sid)
    assert card_resource(api, card.sid)["revoked"] is True
    uid = os.urandom(12)
    refused(api, certify(api, attest(service, card, uid, challenge(api))), 403, "revoked", card_sid=card.sid,
            chip_uid=uid)


def test_a_card_without_licences_left_is_refused(service, api):
    card = make_card(service, api.sid, licences=1)
    assert certify(api, attest(service, card, os.urandom(12), challenge(api))).status_code == 201
    uid = os.urandom(12)
    response = certify(api, attest(service, card, uid, challenge(api)))
    refused(api, response, 403, "no licences left", card_sid=card.sid, chip_uid=uid)
    assert card_resource(api, card.sid)["licences_left"] == 0
    assert api.get(f"/v1/Devices/{device_sid(uid)}").status_code == 404


def test_a_card_certificate_of_another_root_is_refused(service, api):
    card = make_card(service, api.sid, root_key=keys.generate())
    uid = os.urandom(12)
    response = certify(api, attest(service, card, uid, challenge(api)))
    refused(api, response, 403, "not signed by this platform's root key", chip_uid=uid)


def test_a_card_certificate_with_more_licences_written_in_is_refused(service, api):
    card = make_card(service, api.sid, licences=1)
    document = json.loads(card.certificate)
    document["body"]["licences"] = 1000
    tampered = factory_protocol.canonical(document)
    uid = os.urandom(12)
    response = certify(api, attest(service, card, uid, challenge(api), certificate=tampered))
    refused(api, response, 403, "signature does not verify", chip_uid=uid)


def test_a_card_unknown_to_the_service_is_refused(service, api):
    key, sid = keys.generate(), "FC" + "0" * 32
    raw = keys.raw_public(key.public_key())
    certificate = factory_protocol.issue_card_certificate(service.platform.root_key, sid, api.sid, raw, 9)
    card = Card(sid, key, certificate)
    uid = os.urandom(12)
    response = certify(api, attest(service, card, uid, challenge(api)))
    refused(api, response, 403, "not known", card_sid=sid, chip_uid=uid)


def test_a_card_whose_certificate_holds_another_key_is_refused(service, api):
    card = make_card(service, api.sid)
    impostor = keys.generate()
    raw = keys.raw_public(impostor.public_key())
    certificate = factory_protocol.issue_card_certificate(service.platform.root_key, card.sid, api.sid, raw,
                                                          5)
    uid = os.urandom(12)
    response = certify(api, attest(service, Card(card.sid, impostor, certificate), uid, challenge(api)))
    refused(api, response, 403, "does not match the card on record", card_sid=card.sid, chip_uid=uid)


# --- malformed requests: 400, never 500 ----------------------------------------------------------------
@pytest.mark.parametrize("text", ["not json", "[1, 2]", "{}", "[" * 5000 + "]" * 5000, '{"chip_uid": 7}',
                                  json.dumps({"x": "é" * 10}), "\u0000",
                                  "x" * (factory_protocol.MAX_DOCUMENT + 1)])
def test_a_malformed_attestation_is_400(api, text):
    response = certify(api, text)
    refused(api, response, 400, "attestation")


def test_an_oversized_attestation_is_400(service, api):
    card = make_card(service, api.sid)
    uid = os.urandom(12)
    good = json.loads(attest(service, card, uid, challenge(api)).to_json())
    good["padding"] = "x" * factory_protocol.MAX_DOCUMENT
    refused(api, certify(api, json.dumps(good)), 400, "larger than", chip_uid=None)


def test_a_partial_attestation_names_its_chip_in_the_record(api):
    uid = os.urandom(12)
    refused(api, certify(api, json.dumps({"chip_uid": uid.hex()})), 400, "lacks", chip_uid=uid)


def test_a_deeply_nested_card_certificate_is_refused(service, api):
    card = make_card(service, api.sid)
    uid = os.urandom(12)
    nested = ("[" * 5000 + "]" * 5000).encode()
    response = certify(api, attest(service, card, uid, challenge(api), certificate=nested))
    refused(api, response, 403, "card certificate", chip_uid=uid)


def test_bad_form_fields_are_400(api):
    assert api.post("/v1/Factory/Certificates", data={}).status_code == 400
    assert certify(api, "{}", station="AC" + "0" * 32).status_code == 400  # a station is named, not SID'd
    assert certify(api, "{}", station="..").status_code == 400
    refused(api, certify(api, "{}", station=None), 400, "attestation", station=None)


# --- results, lists, isolation ---------------------------------------------------------------------
def test_results_are_recorded_and_listed(api, other_api):
    uid = os.urandom(12)
    passed = api.post("/v1/Factory/Results", data={"ChipUid": uid.hex().upper(), "Passed": "true",
                                                   "Step": "10", "Station": STATION})
    assert passed.status_code == 201, passed.text
    body = passed.json()
    assert body["chip_uid"] == uid.hex() and body["device_sid"] == device_sid(uid)
    assert (body["passed"], body["step"], body["reason"], body["station"]) == (True, 10, None, STATION)
    failed = api.post("/v1/Factory/Results", data={"ChipUid": os.urandom(12).hex(), "Passed": "false",
                                                   "Step": "4", "Reason": "flash verify failed at 0x0801"})
    assert failed.status_code == 201, failed.text
    listed = api.get("/v1/Factory/Results").json()
    assert listed["meta"]["key"] == "results"
    assert [(item["passed"], item["step"]) for item in listed["results"]] == [(True, 10), (False, 4)]
    chosen = api.get("/v1/Factory/Results", params={"ChipUid": uid.hex()}).json()["results"]
    assert [item["sequence"] for item in chosen] == [body["sequence"]]
    assert len(api.get("/v1/Factory/Results", params={"Station": STATION}).json()["results"]) == 1
    assert other_api.get("/v1/Factory/Results").json()["results"] == []
    for bad in ({"Step": "0"}, {"Step": "11"}, {"ChipUid": "00" * 11}, {"Passed": "maybe"},
                {"Reason": "two\nlines"}, {"Station": "a/b"}):
        fields = {"ChipUid": uid.hex(), "Passed": "false", "Step": "3", **bad}
        response = api.post("/v1/Factory/Results", data=fields)
        assert response.status_code == 400, (bad, response.text)
        assert set(response.json()) == ERROR_FIELDS


def test_another_account_sees_none_of_the_factory(service, api, other_api):
    card = make_card(service, api.sid)
    uid = os.urandom(12)
    assert certify(api, attest(service, card, uid, challenge(api))).status_code == 201
    certify(api, "nonsense")
    assert [item["sid"] for item in api.get("/v1/Factory/Cards").json()["cards"]] == [card.sid]
    assert other_api.get("/v1/Factory/Cards").json()["cards"] == []
    assert other_api.get(f"/v1/Factory/Cards/{card.sid}").status_code == 404
    assert other_api.get("/v1/Factory/Certificates").json()["certificates"] == []
    assert other_api.get(f"/v1/Factory/Certificates/{device_sid(uid)}").status_code == 404
    assert other_api.get("/v1/Factory/Rejections").json()["rejections"] == []
    assert len(rejections(api)) == 1


def test_paths_and_authentication(client, api):
    assert client.get("/v1/Factory/Cards").status_code == 401
    assert client.post("/v1/Factory/Challenges").status_code == 401
    assert client.post("/v1/Factory/Certificates", data={"Attestation": "{}"}).status_code == 401
    assert api.get("/v1/Factory/Cards/not-a-card").status_code == 400
    assert api.get("/v1/Factory/Cards/FC" + "0" * 32).status_code == 404
    assert api.get("/v1/Factory/Certificates/UV" + "0" * 32).status_code == 404
    assert api.get("/v1/Factory/Certificates", params={"CardSid": "KA" + "0" * 32}).status_code == 400


def test_the_factory_is_in_the_openapi(client):
    paths = client.app.openapi()["paths"]
    for path, method in (("/v1/Factory/Cards", "get"), ("/v1/Factory/Cards/{Sid}", "get"),
                         ("/v1/Factory/Challenges", "post"), ("/v1/Factory/Certificates", "post"),
                         ("/v1/Factory/Certificates", "get"), ("/v1/Factory/Certificates/{Sid}", "get"),
                         ("/v1/Factory/Results", "post"), ("/v1/Factory/Results", "get"),
                         ("/v1/Factory/Rejections", "get")):
        operation = paths[path][method]
        assert operation["security"] == [{"accountSid_authToken": []}]
    assert {"200", "201", "400", "403", "409"} <= set(paths["/v1/Factory/Certificates"]["post"]["responses"])


# --- the operator's store functions ----------------------------------------------------------------
def test_the_operators_card_functions(service, api):
    raw = keys.raw_public(keys.generate().public_key())
    with service.database.transaction() as session:
        card = factory.create_card(session, api.sid, raw, 3)
        assert card.sid.startswith("FC") and len(card.sid) == 34
        assert [row.sid for row in factory.list_cards(session, api.sid)] == [card.sid]
        assert card.sid in [row.sid for row in factory.list_cards(session)]
        certificate = factory_protocol.read_card_certificate(
            factory.card_certificate(service.platform.root_key, card), service.platform.root_key_hash)
        assert (certificate.card, certificate.account, certificate.public_key, certificate.licences) == (
            card.sid, api.sid, raw, 3)
        assert factory.revoke_card(session, card.sid).revoked
        for account, key, licences, words in (("AC" + "0" * 32, raw, 3, "no account"),
                                              ("nonsense", raw, 3, "no account"),
                                              (api.sid, b"\x04" + b"\x00" * 64, 3, "P-256"),
                                              (api.sid, raw[:-1], 3, "P-256"),
                                              (api.sid, raw, 0, "licences"),
                                              (api.sid, raw, 2**31, "licences")):
            with pytest.raises(factory.CardError, match=words):
                factory.create_card(session, account, key, licences)
        with pytest.raises(factory.CardError, match="no factory card"):
            factory.revoke_card(session, "FC" + "0" * 32)
        with pytest.raises(factory.CardError, match="no account"):
            factory.list_cards(session, "AC" + "1" * 32)
        set_disabled(session, api.sid, True)
        with pytest.raises(factory.CardError, match="disabled"):
            factory.create_card(session, api.sid, raw, 3)
        set_disabled(session, api.sid, False)
