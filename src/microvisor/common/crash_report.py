"""Crash reports as stored and sent: a JSON document, optionally sealed to the app's key (ECIES)."""

from __future__ import annotations

import base64
import json
import os
import struct
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# Layout of a stored report (all of it is what the kernel keeps and what the cloud receives):
#
#   plain:  "MVCR" | version 1 | flags 0 | UTF-8 JSON document
#   sealed: "MVCR" | version 1 | flags 1 | ephemeral P-256 public key (65 bytes, X9.62
#           uncompressed) | AES-GCM nonce (12 bytes) | AES-256-GCM ciphertext of the JSON, with
#           its 16-byte tag at the end
#
# Sealing is ECIES: an ephemeral key pair per report; ECDH with the recipient's key (the
# manifest's CrashPolicy.crash_report_pubkey); HKDF-SHA256 over the shared secret with the
# ephemeral and the recipient public keys as salt and INFO as info, giving a 32-byte AES key.
# The 7-byte header and the ephemeral key are authenticated as additional data.
MAGIC = b"MVCR"
VERSION = 1
FLAG_SEALED = 0x01
INFO = b"microvisor crash report v1"
FORMAT = "microvisor-crash-report"

_HEADER = struct.Struct("<4sBB")
_POINT_SIZE = 65
_NONCE_SIZE = 12
_TAG_SIZE = 16


class CrashReportError(Exception):
    """A stored report that cannot be read: damaged, sealed to another key, or no key given."""


def encode(document: dict[str, Any]) -> bytes:
    """The report in the clear."""
    return _HEADER.pack(MAGIC, VERSION, 0) + _json(document)


def seal(document: dict[str, Any], recipient: bytes | ec.EllipticCurvePublicKey) -> bytes:
    """The report encrypted to `recipient` (a P-256 key, or its 65-byte X9.62 encoding)."""
    public = _public_key(recipient)
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    ephemeral_point = _point(ephemeral.public_key())
    key = _derive(ephemeral.exchange(ec.ECDH(), public), ephemeral_point, _point(public))
    header = _HEADER.pack(MAGIC, VERSION, FLAG_SEALED)
    nonce = os.urandom(_NONCE_SIZE)
    ciphertext = AESGCM(key).encrypt(nonce, _json(document), header + ephemeral_point)
    return header + ephemeral_point + nonce + ciphertext


def is_sealed(blob: bytes) -> bool:
    return _header(blob) & FLAG_SEALED != 0


def decode(blob: bytes, private_key: ec.EllipticCurvePrivateKey | None = None) -> dict[str, Any]:
    """The report's document; a sealed report needs the private key it was sealed to."""
    flags = _header(blob)
    body = blob[_HEADER.size:]
    if flags & FLAG_SEALED:
        if private_key is None:
            raise CrashReportError("the crash report is encrypted: its private key is needed")
        if len(body) < _POINT_SIZE + _NONCE_SIZE + _TAG_SIZE:
            raise CrashReportError("the encrypted crash report is truncated")
        ephemeral_point = body[:_POINT_SIZE]
        nonce = body[_POINT_SIZE:_POINT_SIZE + _NONCE_SIZE]
        try:
            ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ephemeral_point)
        except ValueError as exc:
            raise CrashReportError("the encrypted crash report's ephemeral key is invalid") from exc
        key = _derive(private_key.exchange(ec.ECDH(), ephemeral), ephemeral_point,
                      _point(private_key.public_key()))
        try:
            body = AESGCM(key).decrypt(nonce, body[_POINT_SIZE + _NONCE_SIZE:],
                                       blob[:_HEADER.size] + ephemeral_point)
        except InvalidTag as exc:
            raise CrashReportError("the crash report does not decrypt with this key") from exc
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise CrashReportError("the crash report is not valid JSON") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CrashReportError("not a Microvisor crash report document")
    return document


def stack_bytes(document: dict[str, Any]) -> bytes:
    """The stack bytes a report's document carries (its "stack" entry, base64; empty if none)."""
    stack = document.get("stack") or {}
    return base64.b64decode(stack.get("bytes", "") or "")


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _header(blob: bytes) -> int:
    if len(blob) < _HEADER.size:
        raise CrashReportError("the crash report is truncated")
    magic, version, flags = _HEADER.unpack_from(blob)
    if magic != MAGIC or version != VERSION:
        raise CrashReportError("not a Microvisor crash report (bad magic or version)")
    return flags


def _public_key(recipient: bytes | ec.EllipticCurvePublicKey) -> ec.EllipticCurvePublicKey:
    if isinstance(recipient, ec.EllipticCurvePublicKey):
        if not isinstance(recipient.curve, ec.SECP256R1):
            raise CrashReportError("crash reports are sealed to NIST P-256 keys only")
        return recipient
    if len(recipient) != _POINT_SIZE or recipient[0] != 0x04:
        raise CrashReportError("a crash report key is 65 bytes: an uncompressed P-256 point")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes(recipient))
    except ValueError as exc:
        raise CrashReportError("the crash report key is not a point on P-256") from exc


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _derive(shared: bytes, ephemeral_point: bytes, recipient_point: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral_point + recipient_point,
                info=INFO).derive(shared)
