"""What the factory's trusted parties agree on: card certificates, SFI authorizations, chip keys, CSRs.

Trust in a hostile factory rests on three parties: the chip's ROM (it knows the platform's root-key
hash and a chip-unique secret), the SFI card (a PKCS#11 token whose key never leaves it) and the
service (it holds the platform's keys). The station PC, its operator and the network carry these
messages but can forge none of them:

- a card certificate, signed by the platform's root key, binds a card's public key to an account
  and a licence count; the ROM and the service both check it;
- an SFI authorization is the card's signature over one chip's UID and the nonce the ROM drew for
  this install: valid on that chip, for that boot only;
- the chip key is HMAC(platform SFI master, chip UID): burnt into the chip when it is made and
  derivable by the service, never readable over the debug port; the test program countersigns the
  device's CSR with it, with the service's single-use challenge inside, so a CSR made anywhere but
  on that chip, or sent twice, is refused;
- the provisioning record, signed by the platform's root key around that same challenge, carries
  the device's certificate, the CA it will trust and the broker it will connect to: a station cannot
  point a device at a broker of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from . import keys
from .sids import is_sid

CARD_SID_PREFIX = "FC"
CHIP_UID_SIZE = 12
NONCE_SIZE = 16
CHALLENGE_SIZE = 16
MAX_DOCUMENT = 16 * 1024  # bytes of any JSON document here (a CSR is under 1 KiB)
CARD_PREFIX = b"mv-sfi-card-v1\0"
AUTHORIZATION_PREFIX = b"mv-sfi-auth-v1\0"
CHIP_KEY_PREFIX = b"mv-chip-key-v1\0"
COUNTERSIGN_PREFIX = b"mv-csr-countersign-v1\0"
PROVISIONING_PREFIX = b"mv-factory-provisioning-v1\0"


class FactoryProtocolError(Exception):
    """A factory message that is malformed or does not verify; the message says which check failed."""


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, ASCII."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def load_document(data: bytes | str, what: str) -> dict[str, Any]:
    """A JSON object of bounded size, or FactoryProtocolError."""
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_DOCUMENT:
        raise FactoryProtocolError(f"the {what} is larger than {MAX_DOCUMENT} bytes")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nesting too deep
        raise FactoryProtocolError(f"the {what} is not JSON") from None
    if not isinstance(document, dict):
        raise FactoryProtocolError(f"the {what} is not a JSON object")
    return document


def _text(document: dict[str, Any], name: str, what: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value.isascii():
        raise FactoryProtocolError(f"the {what} lacks the text field '{name}'")
    return value


def _hex(document: dict[str, Any], name: str, size: int, what: str) -> bytes:
    text = _text(document, name, what)
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise FactoryProtocolError(f"the {what}'s '{name}' is not hexadecimal") from None
    if len(value) != size:
        raise FactoryProtocolError(f"the {what}'s '{name}' is not {size} bytes")
    return value


def _root_signed(root_key: keys.PrivateKey, prefix: bytes, body: dict[str, Any]) -> bytes:
    """A document of the platform's root key: the body, the root's public key, the signature."""
    signature = keys.sign(root_key, prefix + canonical(body))
    return canonical({"body": body, "root": keys.raw_public(root_key.public_key()).hex(),
                      "signature": signature.hex()})


def _root_signed_body(data: bytes | str, what: str, prefix: bytes, root_key_hash: bytes) \
        -> tuple[dict[str, Any], bytes, bytes]:
    """(body, root public key, the document as canonical bytes) of a document the root key with this
    hash signed; else FactoryProtocolError."""
    document = load_document(data, what)
    body = document.get("body")
    if not isinstance(body, dict):
        raise FactoryProtocolError(f"the {what} has no body")
    root = _hex(document, "root", keys.RAW_PUBLIC_SIZE, what)
    if hashlib.sha256(root).digest() != root_key_hash:
        raise FactoryProtocolError(f"the {what} is not signed by this platform's root key")
    signature = _hex(document, "signature", keys.SIGNATURE_SIZE, what)
    try:
        root_key = keys.from_raw_public(root)
    except keys.KeyFileError as exc:
        raise FactoryProtocolError(f"the {what} holds a bad key ({exc})") from None
    if not keys.verify(root_key, signature, prefix + canonical(body)):
        raise FactoryProtocolError(f"the {what}'s signature does not verify")
    return body, root, canonical(document)


def chip_uid_from_hex(text: str) -> bytes:
    return _hex({"chip_uid": text}, "chip_uid", CHIP_UID_SIZE, "chip")


# --- card certificates ------------------------------------------------------------------------
@dataclass(frozen=True)
class CardCertificate:
    """A card's public key bound by the platform's root key to an account and a licence count."""

    card: str
    account: str
    public_key: bytes  # X9.62 uncompressed, 65 bytes
    licences: int
    root: bytes  # the signer's public key; its SHA-256 must be the root-key hash the reader trusts
    raw: bytes  # the document as signed and shipped

    def body(self) -> dict[str, Any]:
        return {"card": self.card, "account": self.account, "public_key": self.public_key.hex(),
                "licences": self.licences}


def issue_card_certificate(root_key: keys.PrivateKey, card: str, account: str, public_key: bytes,
                           licences: int) -> bytes:
    """The signed card certificate (JSON) the platform operator writes onto the card."""
    public = keys.raw_public(keys.from_raw_public(public_key)).hex()
    return _root_signed(root_key, CARD_PREFIX, {"card": card, "account": account, "public_key": public,
                                                "licences": int(licences)})


def read_card_certificate(data: bytes | str, root_key_hash: bytes) -> CardCertificate:
    """A card certificate that the root key with this hash signed, or FactoryProtocolError."""
    what = "card certificate"
    body, root, raw = _root_signed_body(data, what, CARD_PREFIX, root_key_hash)
    public_key = _hex(body, "public_key", keys.RAW_PUBLIC_SIZE, what)
    try:
        keys.from_raw_public(public_key)
    except keys.KeyFileError as exc:
        raise FactoryProtocolError(f"the card certificate holds a bad key ({exc})") from None
    card, account, licences = _text(body, "card", what), _text(body, "account", what), body.get("licences")
    if not is_sid(card, CARD_SID_PREFIX) or not is_sid(account, "AC"):
        raise FactoryProtocolError("the card certificate names no card or no account")
    if not isinstance(licences, int) or isinstance(licences, bool) or not 0 <= licences < 2**31:
        raise FactoryProtocolError("the card certificate's licence count is not a whole number")
    return CardCertificate(card, account, public_key, licences, root, raw)


# --- SFI authorizations -----------------------------------------------------------------------
def authorization_message(chip_uid: bytes, nonce: bytes) -> bytes:
    """What a card signs to authorize one install on one chip, in the boot that drew the nonce."""
    if len(chip_uid) != CHIP_UID_SIZE or len(nonce) != NONCE_SIZE:
        raise FactoryProtocolError("an authorization names a 12-byte chip UID and a 16-byte nonce")
    return AUTHORIZATION_PREFIX + chip_uid + nonce


def check_authorization(card: CardCertificate, chip_uid: bytes, nonce: bytes, signature: bytes) -> None:
    """Raise FactoryProtocolError unless the card signed this chip's UID and this nonce."""
    if not keys.verify(keys.from_raw_public(card.public_key), signature,
                       authorization_message(chip_uid, nonce)):
        raise FactoryProtocolError("the SFI authorization is not the card's signature for this chip "
                                   "and this install")


# --- chip keys and attestations ---------------------------------------------------------------
def chip_key(master: bytes, chip_uid: bytes) -> bytes:
    """The chip-unique secret the chip is made with, derivable only by the platform's SFI master."""
    return hmac.new(master, CHIP_KEY_PREFIX + chip_uid, hashlib.sha256).digest()


@dataclass(frozen=True)
class Attestation:
    """A device's CSR, countersigned on the chip by the test program with the chip key."""

    chip_uid: bytes
    csr_pem: str
    card_certificate: bytes
    nonce: bytes
    authorization: bytes
    challenge: bytes
    countersignature: bytes = b""

    def body(self) -> dict[str, Any]:
        return {"chip_uid": self.chip_uid.hex(), "csr": self.csr_pem,
                "card_certificate": self.card_certificate.decode("ascii"), "nonce": self.nonce.hex(),
                "authorization": self.authorization.hex(), "challenge": self.challenge.hex()}

    def countersigned(self, key: bytes) -> Attestation:
        mac = hmac.new(key, COUNTERSIGN_PREFIX + canonical(self.body()), hashlib.sha256).digest()
        return Attestation(**{**self.__dict__, "countersignature": mac})

    def to_json(self) -> str:
        return canonical({**self.body(), "countersignature": self.countersignature.hex()}).decode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Attestation:
        what = "attestation"
        document = load_document(data, what)
        card = _text(document, "card_certificate", what)
        return cls(chip_uid=_hex(document, "chip_uid", CHIP_UID_SIZE, what),
                   csr_pem=_text(document, "csr", what), card_certificate=card.encode(),
                   nonce=_hex(document, "nonce", NONCE_SIZE, what),
                   authorization=_hex(document, "authorization", keys.SIGNATURE_SIZE, what),
                   challenge=_hex(document, "challenge", CHALLENGE_SIZE, what),
                   countersignature=_hex(document, "countersignature", 32, what))

    def verify(self, master: bytes, root_key_hash: bytes) -> CardCertificate:
        """Every check but the service's own records (challenge, chip, licences); the card it names."""
        card = read_card_certificate(self.card_certificate, root_key_hash)
        check_authorization(card, self.chip_uid, self.nonce, self.authorization)
        expected = self.countersigned(chip_key(master, self.chip_uid)).countersignature
        if not hmac.compare_digest(expected, self.countersignature):
            raise FactoryProtocolError("the CSR is not countersigned by the test program on this chip")
        return card


# --- the service's answer ---------------------------------------------------------------------
@dataclass(frozen=True)
class Provisioning:
    """What a certified device keeps: its certificate, the CA its broker's certificate must chain to,
    and the broker (host:port; empty when the service runs no device link)."""

    certificate_pem: str
    ca_pem: str
    broker: str


def sign_provisioning(root_key: keys.PrivateKey, challenge: bytes, provisioning: Provisioning) -> str:
    """The provisioning record for the attestation that carried this challenge (JSON text)."""
    return _root_signed(root_key, PROVISIONING_PREFIX, {
        "challenge": challenge.hex(), "certificate": provisioning.certificate_pem,
        "ca_certificate": provisioning.ca_pem, "broker": provisioning.broker}).decode()


def read_provisioning(data: bytes | str, root_key_hash: bytes, challenge: bytes) -> Provisioning:
    """The record, if this platform's root key signed it for this challenge; else FactoryProtocolError."""
    what = "provisioning record"
    body, _, _ = _root_signed_body(data, what, PROVISIONING_PREFIX, root_key_hash)
    if _hex(body, "challenge", CHALLENGE_SIZE, what) != challenge:
        raise FactoryProtocolError("the provisioning record answers another attestation")
    return Provisioning(_text(body, "certificate", what), _text(body, "ca_certificate", what),
                        _text(body, "broker", what) if body.get("broker") else "")
