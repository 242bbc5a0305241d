"""The factory's messages: card certificates, SFI authorizations and countersigned attestations."""

from __future__ import annotations

import json

import pytest

from microvisor.common import factory_protocol as fp
from microvisor.common import keys
from microvisor.common.platform import Platform

UID, NONCE, CHALLENGE = bytes(range(12)), bytes(range(16)), bytes(16)
CARD, ACCOUNT = "FC" + "a" * 32, "AC" + "b" * 32


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Platform:
    return Platform.init(tmp_path_factory.mktemp("protocol") / "platform")


@pytest.fixture(scope="module")
def card_key() -> keys.PrivateKey:
    return keys.generate()


@pytest.fixture(scope="module")
def certificate(platform, card_key) -> bytes:
    public = keys.raw_public(card_key.public_key())
    return fp.issue_card_certificate(platform.root_key, CARD, ACCOUNT, public, 7)


def attestation(platform, card_key, certificate, uid=UID) -> fp.Attestation:
    signature = keys.sign(card_key, fp.authorization_message(uid, NONCE))
    return fp.Attestation(uid, "CSR", certificate, NONCE, signature, CHALLENGE)


def test_a_card_certificate_reads_back_only_under_its_root(platform, certificate, tmp_path):
    card = fp.read_card_certificate(certificate, platform.root_key_hash)
    assert (card.card, card.account, card.licences) == (CARD, ACCOUNT, 7)
    with pytest.raises(fp.FactoryProtocolError, match="not signed by this platform's root key"):
        fp.read_card_certificate(certificate, Platform.init(tmp_path / "other").root_key_hash)


@pytest.mark.parametrize(("field", "value"), [("licences", 700), ("account", "AC" + "c" * 32),
                                              ("card", "FC" + "d" * 32)])
def test_a_changed_card_certificate_does_not_verify(platform, certificate, field, value):
    document = json.loads(certificate)
    document["body"][field] = value
    with pytest.raises(fp.FactoryProtocolError, match="signature does not verify"):
        fp.read_card_certificate(json.dumps(document), platform.root_key_hash)


@pytest.mark.parametrize("data", [b"", b"[]", b"{", b"\xff\xfe", b"[" * 5000, b"{}" + b" " * fp.MAX_DOCUMENT,
                                  b'{"body": 1}', b'{"body": {}, "root": "zz"}'])
def test_malformed_documents_are_refused_with_a_reason(platform, data):
    with pytest.raises(fp.FactoryProtocolError):
        fp.read_card_certificate(data, platform.root_key_hash)
    with pytest.raises(fp.FactoryProtocolError):
        fp.Attestation.from_json(data)


def test_a_countersigned_attestation_verifies_and_round_trips(platform, card_key, certificate):
    made = attestation(platform, card_key, certificate).countersigned(fp.chip_key(platform.sfi_master(), UID))
    again = fp.Attestation.from_json(made.to_json())
    assert again == made
    assert again.verify(platform.sfi_master(), platform.root_key_hash).card == CARD


def test_an_attestation_is_refused_when_any_part_is_not_this_chips(platform, card_key, certificate):
    master = platform.sfi_master()
    made = attestation(platform, card_key, certificate)
    wrong_chip_key = made.countersigned(fp.chip_key(master, bytes(12)))
    with pytest.raises(fp.FactoryProtocolError, match="not countersigned"):
        wrong_chip_key.verify(master, platform.root_key_hash)
    other_uid = bytes(range(1, 13))  # the authorization names one chip, the attestation another
    moved = fp.Attestation(other_uid, made.csr_pem, certificate, NONCE, made.authorization, CHALLENGE)
    with pytest.raises(fp.FactoryProtocolError, match="not the card's signature"):
        moved.countersigned(fp.chip_key(master, other_uid)).verify(master, platform.root_key_hash)
    signed = attestation(platform, card_key, certificate).countersigned(fp.chip_key(master, UID))
    for field, value in (("challenge", b"\1" * 16), ("csr_pem", "OTHER")):  # changed after countersigning
        changed = fp.Attestation(**{**signed.__dict__, field: value})
        with pytest.raises(fp.FactoryProtocolError, match="not countersigned"):
            changed.verify(master, platform.root_key_hash)
