"""The stored crash report format: plain and sealed (ECIES) envelopes, and what breaks them."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from microvisor.common import crash_report
from microvisor.common.crash_report import CrashReportError

DOCUMENT = {"format": crash_report.FORMAT, "version": 1, "kind": "fault", "pc": 0x0800_0123,
            "stack": {"address": 0x2007_FF00, "bytes": "AAECAw=="}}


def test_plain_report_round_trips():
    blob = crash_report.encode(DOCUMENT)
    assert blob.startswith(b"MVCR\x01\x00") and not crash_report.is_sealed(blob)
    assert crash_report.decode(blob) == DOCUMENT
    assert crash_report.stack_bytes(DOCUMENT) == b"\x00\x01\x02\x03"


def test_sealed_report_round_trips_with_a_key_or_its_x962_bytes():
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    for recipient in (point, key.public_key()):
        blob = crash_report.seal(DOCUMENT, recipient)
        assert blob.startswith(b"MVCR\x01\x01") and crash_report.is_sealed(blob)
        assert crash_report.decode(blob, key) == DOCUMENT
    assert crash_report.seal(DOCUMENT, point) != crash_report.seal(DOCUMENT, point)  # fresh keys


def test_sealed_report_refuses_tampering_and_wrong_keys():
    key = ec.generate_private_key(ec.SECP256R1())
    blob = bytearray(crash_report.seal(DOCUMENT, key.public_key()))
    with pytest.raises(CrashReportError, match="private key"):
        crash_report.decode(bytes(blob))
    with pytest.raises(CrashReportError, match="does not decrypt"):
        crash_report.decode(bytes(blob), ec.generate_private_key(ec.SECP256R1()))
    blob[-1] ^= 1
    with pytest.raises(CrashReportError, match="does not decrypt"):
        crash_report.decode(bytes(blob), key)


@pytest.mark.parametrize("blob", [b"", b"MVCR", b"XXXX\x01\x00{}", b"MVCR\x02\x00{}",
                                  b"MVCR\x01\x00not json", b"MVCR\x01\x00{\"format\": \"other\"}",
                                  b"MVCR\x01\x01short"])
def test_damaged_reports_raise_a_typed_error(blob):
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CrashReportError):
        crash_report.decode(blob, key)


@pytest.mark.parametrize("recipient", [b"", b"\x04" + b"\x00" * 64, b"\x02" + b"\x01" * 32,
                                       b"\x04" * 66])
def test_unusable_recipient_keys_raise_a_typed_error(recipient):
    with pytest.raises(CrashReportError):
        crash_report.seal(DOCUMENT, recipient)


def test_only_p256_keys_are_accepted():
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(CrashReportError):
        crash_report.seal(DOCUMENT, other)
