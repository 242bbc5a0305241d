"""Certifying a chip from a factory station's attestation: every check in order, each refusal recorded."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy.exc import IntegrityError

from ..common import keys
from ..common.factory_protocol import (
    Attestation,
    CardCertificate,
    FactoryProtocolError,
    chip_uid_from_hex,
    load_document,
    read_card_certificate,
)
from ..common.platform import Platform
from ..common.sids import device_sid
from .database import Database
from .errors import Conflict, Forbidden, InvalidRequest, ServiceError
from .models import FactoryCard, FactoryCertifiedChip
from .store import factory
from .store.devices import register_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Certification:
    """A certified chip; created is False when it was certified before with the same key (a station's
    retry after a power cut): its certificate again, no licence used."""

    chip: FactoryCertifiedChip
    card_sid: str
    created: bool
    challenge: bytes = b""  # the attestation's: the provisioning record answers it


@dataclass
class _Refusal:
    """What a refusal's record may name: the card once its certificate verified, the chip once parsed."""

    card_sid: str | None = None
    chip_uid: bytes | None = None


def certify(database: Database, platform: Platform, account_id: int, account_sid: str, attestation: str,
            station: str | None = None) -> Certification:
    """Certify the chip an attestation (JSON text) names, for the calling account; a refusal is a
    ServiceError (400, 403, 409), recorded in its own committed transaction before it is raised."""
    seen = _Refusal()
    try:
        return _certify(database, platform, account_id, account_sid, attestation, station, seen)
    except ServiceError as refusal:
        with database.transaction() as session:
            factory.record_rejection(session, account_id, refusal.status, refusal.message,
                                     card_sid=seen.card_sid, chip_uid=seen.chip_uid, station=station)
        log.warning("factory: refused a certification for account %s (station %s, chip %s): %s", account_sid,
                    station or "-", seen.chip_uid.hex() if seen.chip_uid else "-", refusal.message)
        raise


def _certify(database: Database, platform: Platform, account_id: int, account_sid: str, text: str,
             station: str | None, seen: _Refusal) -> Certification:
    try:
        attestation = parse_attestation(text)
    except InvalidRequest:
        seen.chip_uid = chip_uid_named(text)
        raise
    seen.chip_uid = attestation.chip_uid
    card_certificate = verify_card_certificate(attestation, platform.root_key_hash)
    seen.card_sid = card_certificate.card
    with database.transaction() as session:
        card = factory.card_by_sid(session, card_certificate.card)
        card_id = check_card(card, card_certificate, account_id, account_sid)
    try:
        attestation.verify(platform.sfi_master(), platform.root_key_hash)
    except FactoryProtocolError as exc:
        raise InvalidRequest(_sentence(exc)) from None
    with database.transaction() as session:
        factory.consume_challenge(session, account_id, attestation.challenge)
    key = csr_key(attestation)
    try:
        issued = _issue(database, platform, card_id, attestation.chip_uid, key, station)
    except IntegrityError:  # a racing request certified this chip first: it is on record now
        issued = _issue(database, platform, card_id, attestation.chip_uid, key, station)
    return dataclasses.replace(issued, challenge=attestation.challenge)


def parse_attestation(text: str) -> Attestation:
    """The attestation, or InvalidRequest naming what is malformed (size, JSON, a field)."""
    try:
        return Attestation.from_json(text)
    except FactoryProtocolError as exc:
        raise InvalidRequest(_sentence(exc)) from None
    except RecursionError:
        raise InvalidRequest("The attestation is not JSON (nested too deeply).") from None


def chip_uid_named(text: str) -> bytes | None:
    """The chip UID a malformed attestation names, if it names one well-formed."""
    try:
        return chip_uid_from_hex(load_document(text, "attestation").get("chip_uid"))
    except (FactoryProtocolError, RecursionError):
        return None


def verify_card_certificate(attestation: Attestation, root_key_hash: bytes) -> CardCertificate:
    """The card certificate the attestation carries, signed by this platform's root key, else Forbidden."""
    try:
        return read_card_certificate(attestation.card_certificate, root_key_hash)
    except FactoryProtocolError as exc:
        raise Forbidden(_sentence(exc)) from None
    except RecursionError:
        raise Forbidden("The card certificate is not JSON (nested too deeply).") from None


def check_card(card: FactoryCard | None, certificate: CardCertificate, account_id: int,
               account_sid: str) -> int:
    """The id of the card on record, if it is the caller's, matches its certificate and is not revoked;
    else Forbidden."""
    if card is None:
        raise Forbidden(f"Card {certificate.card} is not known to this service.")
    if card.account_id != account_id:
        raise Forbidden(f"Card {certificate.card} belongs to another account (a foreign card).")
    if certificate.account != account_sid or certificate.public_key.hex() != card.public_key:
        raise Forbidden(f"The certificate of card {certificate.card} does not match the card on record.")
    if card.revoked:
        raise Forbidden(f"Card {certificate.card} is revoked.")
    return card.id


def csr_key(attestation: Attestation) -> ec.EllipticCurvePublicKey:
    """The device key of the attestation's CSR: a PEM CSR signed by that key, a P-256 key, and its only
    common name the chip's device SID; else InvalidRequest."""
    try:
        request = x509.load_pem_x509_csr(attestation.csr_pem.encode())
    except ValueError:
        raise InvalidRequest("The attestation's CSR is not a PEM certificate signing request.") from None
    try:
        signed = request.is_signature_valid
        key = request.public_key()
        names = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidRequest("The attestation's CSR uses a key or signature this service does not take.") \
            from None
    if not signed:
        raise InvalidRequest("The attestation's CSR is not signed by the key it holds.")
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidRequest("The device key in the CSR is not a NIST P-256 key.")
    expected = device_sid(attestation.chip_uid)
    if len(names) != 1 or names[0].value != expected:
        raise InvalidRequest(f"The CSR's common name is not {expected}, the device SID of chip "
                             f"{attestation.chip_uid.hex()}.")
    return key


def _issue(database: Database, platform: Platform, card_id: int, chip_uid: bytes,
           key: ec.EllipticCurvePublicKey, station: str | None) -> Certification:
    """The chip's certificate: again if it was certified with this key; else a new one for a licence."""
    raw = keys.raw_public(key).hex()
    with database.transaction() as session:
        card = session.get(FactoryCard, card_id)
        done = factory.certified_chip(session, chip_uid)
        if done is not None:
            if done.account_id != card.account_id or done.public_key != raw:
                raise Conflict(f"Chip {chip_uid.hex()} is certified already, with another key (a clone?).")
            return Certification(done, done.card.sid, False)
        if not factory.consume_licence(session, card.id):
            session.refresh(card)
            raise Forbidden(f"Card {card.sid} is revoked." if card.revoked
                            else f"Card {card.sid} has no licences left (all {card.licences} are used).")
        sid = device_sid(chip_uid)
        certificate = platform.issue_certificate(sid, key).decode()
        register_device(session, card.account_id, sid, chip_uid, certificate)
        row = factory.record_certified_chip(session, card, chip_uid, sid, bytes.fromhex(raw), certificate,
                                            station)
        log.info("factory: certified chip %s as %s (card %s, station %s)", chip_uid.hex(), sid, card.sid,
                 station or "-")
        return Certification(row, card.sid, True)


def _sentence(exc: Exception) -> str:
    """A protocol error's message as one sentence."""
    text = str(exc)
    return text[:1].upper() + text[1:].rstrip(".") + "."
