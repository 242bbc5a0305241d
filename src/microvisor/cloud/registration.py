"""Device registration: a chip UID and a key (CSR or public key) become a SID and a CA certificate."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..common.platform import Platform
from ..common.sids import device_sid
from .errors import InvalidRequest

CHIP_UID_SIZE = 12  # the STM32U585's 96-bit unique ID


@dataclass(frozen=True)
class Enrollment:
    sid: str
    chip_uid: bytes
    certificate_pem: str


def parse_chip_uid(text: str) -> bytes:
    try:
        uid = bytes.fromhex(text)
    except ValueError:
        raise InvalidRequest("ChipUid must be hexadecimal (12 bytes, 24 hex digits).") from None
    if len(uid) != CHIP_UID_SIZE:
        raise InvalidRequest(f"ChipUid must be {CHIP_UID_SIZE} bytes ({2 * CHIP_UID_SIZE} hex digits), "
                             f"not {len(uid)}.")
    return uid


def device_public_key(csr_pem: str | None, public_key_pem: str | None) -> ec.EllipticCurvePublicKey:
    """The key to certify: from a CSR whose signature proves possession, or a bare public key."""
    if (csr_pem is None) == (public_key_pem is None):
        raise InvalidRequest("Give exactly one of Csr (PEM certificate request) and PublicKey (PEM).")
    if csr_pem is not None:
        try:
            request = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError:
            raise InvalidRequest("Csr is not a PEM certificate signing request.") from None
        if not request.is_signature_valid:
            raise InvalidRequest("Csr is not signed by the key it holds.")
        key = request.public_key()
    else:
        try:
            key = serialization.load_pem_public_key(public_key_pem.encode())
        except (ValueError, TypeError):
            raise InvalidRequest("PublicKey is not a PEM public key.") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidRequest("The device key must be a NIST P-256 key.")
    return key


def enroll(platform: Platform, chip_uid_hex: str, csr_pem: str | None,
           public_key_pem: str | None) -> Enrollment:
    uid = parse_chip_uid(chip_uid_hex)
    key = device_public_key(csr_pem, public_key_pem)
    sid = device_sid(uid)
    return Enrollment(sid, uid, platform.issue_certificate(sid, key).decode())
