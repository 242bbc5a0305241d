"""Signatures checked without the signer's key: ECDSA public-key recovery over P-256."""

from __future__ import annotations

from microvisor.cloud.signature_check import recover_public_keys, signature_problem
from microvisor.common import keys

from .conftest import app_bundle


def test_recovery_finds_the_signing_key():
    key = keys.generate()
    signature = keys.sign(key, b"message")
    assert keys.raw_public(key.public_key()) in recover_public_keys(signature, b"message")
    assert keys.raw_public(key.public_key()) not in recover_public_keys(signature, b"other message")
    assert recover_public_keys(b"\x00" * 64, b"message") == []
    assert recover_public_keys(b"short", b"message") == []


def test_bundle_signatures_hold_or_are_named():
    first, second = keys.generate(), keys.generate()
    bundle = app_bundle(key=first)
    bundle.sign(second)
    assert signature_problem(bundle) is None
    assert signature_problem(app_bundle()) is None  # unsigned: nothing to check
    bundle.manifest.body += b"\x00"
    assert f"{keys.signer_id(first.public_key()):016x}" in signature_problem(bundle)
