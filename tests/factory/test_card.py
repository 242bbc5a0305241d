"""The SFI card on a real PKCS#11 token (SoftHSM2): a key that never leaves it, its signatures, its
certificate, every failure one sentence; and the operator's `factory card issue|show|revoke`."""

from __future__ import annotations

import json
import os
import subprocess

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass

from microvisor.cloud.service import open_database
from microvisor.cloud.store.factory import list_cards
from microvisor.common import factory_protocol, keys
from microvisor.common.platform import Platform
from microvisor.factory import card as card_module
from microvisor.factory.card import CardError, SfiCard

from ..conftest import CLI, run_cli

UID = bytes(range(12))
NONCE = bytes(range(100, 116))


# --- the key ----------------------------------------------------------------------------------------
def test_the_key_is_made_on_the_token_and_never_leaves_it(sfi_token):
    with SfiCard.open(*sfi_token) as card:
        public = card.create_key()
        assert len(public) == 65 and public[0] == 4
        keys.from_raw_public(public)  # a point on P-256
        assert card.public_key() == public
        assert card.key_attributes() == {"sensitive": True, "extractable": False, "never_extractable": True,
                                         "always_sensitive": True, "local": True, "sign": True,
                                         "decrypt": False, "derive": False, "unwrap": False, "token": True}
    # Asked directly through PKCS#11, the token will neither show nor wrap the private value.
    lib = pkcs11.lib(os.path.realpath(sfi_token.module))
    try:
        with lib.get_token(token_label=sfi_token.label).open(rw=True, user_pin=sfi_token.pin) as session:
            private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=card_module.KEY_LABEL)
            assert private.key_type == KeyType.EC
            with pytest.raises(pkcs11.AttributeSensitive):
                private[Attribute.VALUE]
            wrapper = session.generate_key(KeyType.AES, 256, capabilities=MechanismFlag.WRAP |
                                           MechanismFlag.UNWRAP | MechanismFlag.ENCRYPT)
            with pytest.raises(pkcs11.PKCS11Error):
                wrapper.wrap_key(private, mechanism=Mechanism.AES_KEY_WRAP_PAD)
    finally:
        lib.finalize()
    with SfiCard.open(*sfi_token) as card:  # kept on the token, found again in a new session
        assert card.public_key() == public


def test_a_card_gets_its_key_once(sfi_token):
    with SfiCard.open(*sfi_token) as card:
        assert not card.has_key()
        first = card.create_key()
        assert card.has_key()
        with pytest.raises(CardError, match="already holds a card key"):
            card.create_key()
        assert card.public_key() == first


def test_authorizations_are_the_cards_signatures_for_one_chip_and_one_nonce(sfi_token):
    with SfiCard.open(*sfi_token) as card:
        public = keys.from_raw_public(card.create_key())
        signature = card.authorize(UID, NONCE)
        again = card.authorize(UID, NONCE)
        with pytest.raises(factory_protocol.FactoryProtocolError):
            card.authorize(UID[:-1], NONCE)
    assert len(signature) == 64 and signature != again  # ECDSA draws a fresh k each time
    message = factory_protocol.authorization_message(UID, NONCE)
    assert keys.verify(public, signature, message) and keys.verify(public, again, message)
    other_uid = bytes(reversed(UID))
    assert not keys.verify(public, signature, factory_protocol.authorization_message(other_uid, NONCE))
    assert not keys.verify(public, signature, factory_protocol.authorization_message(UID, bytes(16)))
    assert not keys.verify(keys.from_raw_public(keys.raw_public(keys.generate().public_key())), signature,
                           message)


def test_the_card_signs_only_once_logged_in_and_never_without_a_key(sfi_token):
    with SfiCard.open(sfi_token.module, sfi_token.label, sfi_token.pin) as card:
        with pytest.raises(CardError, match="holds no card key"):
            card.authorize(UID, NONCE)
        with pytest.raises(CardError, match="holds no card key"):
            card.public_key()
        card.create_key()
    with SfiCard.open(sfi_token.module, sfi_token.label, None) as card:
        assert not card.logged_in
        card.public_key()  # public: readable without the PIN
        with pytest.raises(CardError, match="PIN is needed to sign"):
            card.authorize(UID, NONCE)
        with pytest.raises(CardError, match="PIN is needed"):
            card.create_key()


def test_signatures_use_the_tokens_mechanism(sfi_token):
    """SoftHSM2 2.6 has CKM_ECDSA but not CKM_ECDSA_SHA256: the digest is then made on the host."""
    with SfiCard.open(*sfi_token) as card:
        mechanisms = pkcs11.lib(os.path.realpath(sfi_token.module)).get_token(
            token_label=sfi_token.label).slot.get_mechanisms()
        assert Mechanism.ECDSA in mechanisms
        assert card.signs_digest_on_host == (Mechanism.ECDSA_SHA256 not in mechanisms)


# --- the certificate ---------------------------------------------------------------------------------
def test_the_certificate_round_trips_and_is_replaced(sfi_token, tmp_path):
    platform = Platform.init(tmp_path / "platform")
    account, card_sid = "AC" + "1" * 32, "FC" + "2" * 32
    with SfiCard.open(*sfi_token) as card:
        with pytest.raises(CardError, match="holds no card certificate"):
            card.certificate()
        public = card.create_key()
        first = factory_protocol.issue_card_certificate(platform.root_key, card_sid, account, public, 10)
        card.store_certificate(first)
        assert card.certificate() == first
        second = factory_protocol.issue_card_certificate(platform.root_key, card_sid, account, public, 20)
        card.store_certificate(second)
        assert card.certificate() == second
        signature = card.authorize(UID, NONCE)
    with SfiCard.open(sfi_token.module, sfi_token.label, None) as card:  # public: no PIN needed to read it
        stored = card.certificate()
    read = factory_protocol.read_card_certificate(stored, platform.root_key_hash)
    assert (read.card, read.account, read.licences, read.public_key) == (card_sid, account, 20, public)
    factory_protocol.check_authorization(read, UID, NONCE, signature)


def test_erase_leaves_an_empty_token(sfi_token):
    with SfiCard.open(*sfi_token) as card:
        card.create_key()
        card.store_certificate(b"{}")
        card.erase()
        assert not card.has_key()
        with pytest.raises(CardError, match="holds no card certificate"):
            card.certificate()
        card.create_key()  # the token can be issued again


# --- failures, one sentence each ---------------------------------------------------------------------
def test_a_wrong_pin_is_refused(sfi_token):
    with pytest.raises(CardError, match=f"^wrong PIN for token '{sfi_token.label}'$"):
        SfiCard.open(sfi_token.module, sfi_token.label, "000000")
    with SfiCard.open(*sfi_token):  # the module was left in a usable state
        pass


def test_an_unknown_label_is_refused_and_the_present_ones_named(sfi_token):
    with pytest.raises(CardError, match=f"no token labelled 'nope' .*its tokens are '{sfi_token.label}'"):
        SfiCard.open(sfi_token.module, "nope", sfi_token.pin)
    with pytest.raises(CardError, match="not a token label"):
        SfiCard.open(sfi_token.module, "x" * 33, sfi_token.pin)


def test_a_module_that_cannot_load_is_refused(sfi_token, tmp_path):
    with pytest.raises(CardError, match="cannot load the PKCS#11 module .*No such file"):
        SfiCard.open(str(tmp_path / "missing.so"), sfi_token.label, sfi_token.pin)
    bogus = tmp_path / "bogus.so"
    bogus.write_text("not a library")
    with pytest.raises(CardError, match="cannot load the PKCS#11 module"):
        SfiCard.open(str(bogus), sfi_token.label, sfi_token.pin)


def test_a_module_that_cannot_start_is_refused(sfi_token, monkeypatch, tmp_path):
    monkeypatch.setenv("SOFTHSM2_CONF", str(tmp_path / "missing.conf"))
    with pytest.raises(CardError, match="did not start .*SOFTHSM2_CONF"):
        SfiCard.open(sfi_token.module, sfi_token.label, sfi_token.pin)


def test_a_token_made_after_the_module_was_used_is_found(sfi_token, tmp_path, monkeypatch):
    with SfiCard.open(*sfi_token):
        pass
    config = card_module.init_softhsm_token(tmp_path / "other", "later", "4321", "12345678")
    monkeypatch.setenv("SOFTHSM2_CONF", str(config))
    with SfiCard.open(sfi_token.module, "later", "4321") as card:
        assert card.label == "later"


def test_a_closed_card_is_refused(sfi_token):
    card = SfiCard.open(*sfi_token)
    card.close()
    card.close()
    with pytest.raises(CardError, match="closed"):
        card.create_key()


# --- the operator's commands ---------------------------------------------------------------------------
def _server_folder(tmp_path):
    """A data folder with its platform and one account (as a started server leaves it)."""
    data = tmp_path / "server"
    platform = Platform.init(data / "platform")
    made = run_cli("server", "accounts", "create", "--data", str(data), "--json")
    assert made.returncode == 0, made.stderr
    return data, platform, json.loads(made.stdout)["account_sid"]


def _cards(data):
    database = open_database(data)
    try:
        with database.transaction() as session:
            return [(c.sid, c.account.sid, c.licences, c.public_key, c.revoked) for c in list_cards(session)]
    finally:
        database.dispose()


def _one_sentence_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_the_operator_issues_shows_and_revokes_a_card(sfi_token, tmp_path):
    data, platform, account = _server_folder(tmp_path)
    token = ["--token-label", sfi_token.label, "--pkcs11-module", sfi_token.module]
    issued = run_cli("factory", "card", "issue", "--account", account, "--licenses", "25", *token,
                     "--pin", sfi_token.pin, "--data", str(data), "--json")
    assert issued.returncode == 0, issued.stderr
    row = json.loads(issued.stdout)
    card_sid = row["card_sid"]
    assert row["account_sid"] == account and row["licences"] == 25
    assert _cards(data) == [(card_sid, account, 25, row["public_key"], False)]

    with SfiCard.open(*sfi_token) as card:  # the certificate on the token is the platform's, for this key
        certificate = factory_protocol.read_card_certificate(card.certificate(), platform.root_key_hash)
        assert certificate.public_key == card.public_key() == bytes.fromhex(row["public_key"])
        assert (certificate.card, certificate.account, certificate.licences) == (card_sid, account, 25)

    shown = run_cli("factory", "card", "show", *token, "--json")  # no PIN, no service
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {
        "card_sid": card_sid, "account_sid": account, "licences": 25, "token_label": sfi_token.label,
        "public_key": row["public_key"], "root_key_hash": platform.root_key_hash.hex()}
    text = run_cli("factory", "card", "show", *token)
    assert text.returncode == 0 and card_sid in text.stdout and account in text.stdout

    again = run_cli("factory", "card", "issue", "--account", account, "--licenses", "5", *token,
                    "--pin", sfi_token.pin, "--data", str(data))
    assert "already holds a card key" in _one_sentence_error(again)
    assert len(_cards(data)) == 1

    revoked = run_cli("factory", "card", "revoke", card_sid, "--data", str(data))
    assert revoked.returncode == 0, revoked.stderr
    assert _cards(data)[0][-1] is True
    unknown = run_cli("factory", "card", "revoke", "FC" + "0" * 32, "--data", str(data))
    assert "no factory card" in _one_sentence_error(unknown)


def test_a_failed_issue_records_nothing_and_leaves_the_token_empty(sfi_token, tmp_path, monkeypatch):
    data, _, _ = _server_folder(tmp_path)
    monkeypatch.setenv("MICROVISOR_CARD_PIN", sfi_token.pin)  # the PIN from the environment
    stranger = "AC" + "f" * 32
    failed = run_cli("factory", "card", "issue", "--account", stranger, "--licenses", "3", "--token-label",
                     sfi_token.label, "--data", str(data))
    error = _one_sentence_error(failed)
    assert f"there is no account {stranger}" in error and "the new key was deleted" in error
    assert _cards(data) == []
    with SfiCard.open(*sfi_token) as card:
        assert not card.has_key()


def test_issue_refusals_are_one_sentence(sfi_token, tmp_path):
    data, _, account = _server_folder(tmp_path)

    def issue(*, label=sfi_token.label, licences="3", folder=data, pin=sfi_token.pin):
        args = ["factory", "card", "issue", "--account", account, "--licenses", licences,
                "--token-label", label, "--data", str(folder), *(["--pin", pin] if pin else [])]
        return subprocess.run([str(CLI), *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=60, check=False)

    assert "wrong PIN" in _one_sentence_error(issue(pin="999999"))
    assert "no token labelled 'absent'" in _one_sentence_error(issue(label="absent"))
    assert "has no platform" in _one_sentence_error(issue(folder=tmp_path))
    assert "a number of licences" in _one_sentence_error(issue(licences="0"))
    assert "give the card's PIN" in _one_sentence_error(issue(pin=None))  # not asked for without a terminal
    assert _cards(data) == []
    with SfiCard.open(*sfi_token) as card:
        assert not card.has_key()


def test_show_refuses_a_token_without_a_card(sfi_token):
    shown = run_cli("factory", "card", "show", "--token-label", sfi_token.label)
    assert "holds no card certificate" in _one_sentence_error(shown)


def test_the_help_names_the_default_module():
    shown = run_cli("factory", "card", "show", "--help")
    assert card_module.DEFAULT_MODULE in shown.stdout
