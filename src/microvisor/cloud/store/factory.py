"""The factory's records: SFI cards and their licences, challenges, certified chips, results and refusals."""

from __future__ import annotations

import datetime
import secrets

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session

from ...common import factory_protocol, keys
from ...common.sids import is_sid, new_sid
from ..clock import utc_now
from ..errors import Conflict, InvalidRequest, NotFound
from ..models import (
    Account,
    FactoryCard,
    FactoryCertifiedChip,
    FactoryChallenge,
    FactoryRejection,
    FactoryResult,
)

CHALLENGE_LIFETIME = datetime.timedelta(minutes=10)
CHALLENGE_KEPT = datetime.timedelta(days=1)  # an expired challenge is forgotten this long after it expired
MAX_LICENCES = 2**31 - 1  # what a card certificate can carry


class CardError(Exception):
    """An operator's card request that cannot be done (unknown or disabled account, bad key, unknown card)."""


# --- the operator's: issue, revoke, list cards --------------------------------------------------
def create_card(session: Session, account_sid: str, public_key: bytes, licences: int) -> FactoryCard:
    """A new card (FC…) for an enabled account: the token's P-256 public key (X9.62 uncompressed) and
    its licence count."""
    account = _account(session, account_sid)
    if account.disabled:
        raise CardError(f"account {account_sid} is disabled; enable it before issuing it a card")
    try:
        raw = keys.raw_public(keys.from_raw_public(bytes(public_key)))
    except (keys.KeyFileError, ValueError, TypeError):
        raise CardError("a card's public key is a P-256 point, X9.62 uncompressed (65 bytes)") from None
    if isinstance(licences, bool) or not isinstance(licences, int) or not 1 <= licences <= MAX_LICENCES:
        raise CardError(f"a card carries 1 to {MAX_LICENCES} licences")
    card = FactoryCard(sid=new_sid(factory_protocol.CARD_SID_PREFIX), account_id=account.id,
                       public_key=raw.hex(), licences=licences, licences_used=0, revoked=False,
                       date_created=utc_now())
    session.add(card)
    session.flush()
    return card


def card_certificate(root_key: keys.PrivateKey, card: FactoryCard) -> bytes:
    """The certificate the operator writes onto the card: this card, signed by the platform's root key."""
    return factory_protocol.issue_card_certificate(root_key, card.sid, card.account.sid,
                                                   bytes.fromhex(card.public_key), card.licences)


def revoke_card(session: Session, card_sid: str) -> FactoryCard:
    """Refuse the card from now on (its certificate stays valid, so the service's record decides)."""
    card = session.scalar(select(FactoryCard).where(FactoryCard.sid == card_sid))
    if card is None:
        raise CardError(f"there is no factory card {card_sid}")
    card.revoked = True
    session.flush()
    return card


def list_cards(session: Session, account_sid: str | None = None) -> list[FactoryCard]:
    """Every card, or one account's, oldest first."""
    statement = select(FactoryCard)
    if account_sid is not None:
        statement = statement.where(FactoryCard.account_id == _account(session, account_sid).id)
    return list(session.scalars(statement.order_by(FactoryCard.id)))


def _account(session: Session, sid: str) -> Account:
    account = session.scalar(select(Account).where(Account.sid == sid)) if is_sid(sid, "AC") else None
    if account is None:
        raise CardError(f"there is no account {sid}")
    return account


# --- cards as their account sees them -----------------------------------------------------------
def cards_statement(account_id: int) -> Select:
    return select(FactoryCard).where(FactoryCard.account_id == account_id)


def find_card(session: Session, account_id: int, sid: str) -> FactoryCard:
    """The account's card, else NotFound (also for another account's card)."""
    card = session.scalar(select(FactoryCard).where(FactoryCard.account_id == account_id,
                                                    FactoryCard.sid == sid))
    if card is None:
        raise NotFound(f"no factory card {sid} in this account")
    return card


def card_by_sid(session: Session, sid: str) -> FactoryCard | None:
    """Any account's card (the certification tells a foreign card from an unknown one)."""
    return session.scalar(select(FactoryCard).where(FactoryCard.sid == sid))


def consume_licence(session: Session, card_id: int) -> bool:
    """Use one of the card's licences; False when it has none left or was revoked meanwhile. One statement,
    so two certifications at once cannot both take the last licence."""
    statement = (update(FactoryCard)
                 .where(FactoryCard.id == card_id, FactoryCard.revoked.is_(False),
                        FactoryCard.licences_used < FactoryCard.licences)
                 .values(licences_used=FactoryCard.licences_used + 1)
                 .execution_options(synchronize_session=False))
    return session.execute(statement).rowcount == 1


# --- challenges ---------------------------------------------------------------------------------
def create_challenge(session: Session, account_id: int,
                     now: datetime.datetime | None = None) -> FactoryChallenge:
    """A fresh single-use challenge for the account's station, valid CHALLENGE_LIFETIME; challenges long
    expired are forgotten on the way."""
    now = now or utc_now()
    session.execute(delete(FactoryChallenge).where(FactoryChallenge.date_expires < now - CHALLENGE_KEPT))
    row = FactoryChallenge(challenge=secrets.token_hex(factory_protocol.CHALLENGE_SIZE),
                           account_id=account_id, date_expires=now + CHALLENGE_LIFETIME, used=False)
    session.add(row)
    session.flush()
    return row


def consume_challenge(session: Session, account_id: int, challenge: bytes,
                      now: datetime.datetime | None = None) -> None:
    """Mark the challenge used; InvalidRequest unless the account was given it and it has not expired,
    Conflict when it was used already. One conditional statement, so it is used once even by racing
    requests."""
    now = now or utc_now()
    text = challenge.hex()
    statement = (update(FactoryChallenge)
                 .where(FactoryChallenge.challenge == text, FactoryChallenge.account_id == account_id,
                        FactoryChallenge.used.is_(False), FactoryChallenge.date_expires > now)
                 .values(used=True).execution_options(synchronize_session=False))
    if session.execute(statement).rowcount == 1:
        return
    row = session.scalar(select(FactoryChallenge).where(FactoryChallenge.challenge == text))
    if row is None or row.account_id != account_id:
        raise InvalidRequest("The attestation's challenge was not issued to this account.")
    if row.used:
        raise Conflict("The attestation's challenge was used already (a replayed attestation).")
    raise InvalidRequest("The attestation's challenge has expired; ask for a new one.")


# --- certified chips ----------------------------------------------------------------------------
def certified_chip(session: Session, chip_uid: bytes) -> FactoryCertifiedChip | None:
    return session.scalar(select(FactoryCertifiedChip).where(FactoryCertifiedChip.chip_uid == chip_uid.hex()))


def record_certified_chip(session: Session, card: FactoryCard, chip_uid: bytes, device_sid: str,
                          public_key: bytes, certificate_pem: str, station: str | None,
                          now: datetime.datetime | None = None) -> FactoryCertifiedChip:
    """Record the chip as certified under this card (IntegrityError if a racing request did first)."""
    row = FactoryCertifiedChip(chip_uid=chip_uid.hex(), device_sid=device_sid, card_id=card.id, card=card,
                               account_id=card.account_id, public_key=public_key.hex(),
                               certificate=certificate_pem, station=station, date_created=now or utc_now())
    session.add(row)
    session.flush()
    return row


def certified_statement(account_id: int, card_sid: str | None = None, station: str | None = None) -> Select:
    statement = select(FactoryCertifiedChip).where(FactoryCertifiedChip.account_id == account_id)
    if card_sid is not None:
        statement = statement.where(FactoryCertifiedChip.card_id.in_(
            select(FactoryCard.id).where(FactoryCard.sid == card_sid)))
    if station is not None:
        statement = statement.where(FactoryCertifiedChip.station == station)
    return statement


def find_certified(session: Session, account_id: int, device_sid: str) -> FactoryCertifiedChip:
    """The account's certified chip by its device SID, else NotFound."""
    row = session.scalar(select(FactoryCertifiedChip).where(FactoryCertifiedChip.account_id == account_id,
                                                            FactoryCertifiedChip.device_sid == device_sid))
    if row is None:
        raise NotFound(f"no chip certified as {device_sid} in this account")
    return row


# --- results and refusals -----------------------------------------------------------------------
def record_result(session: Session, account_id: int, chip_uid: bytes, passed: bool, step: int,
                  reason: str | None = None, station: str | None = None,
                  now: datetime.datetime | None = None) -> FactoryResult:
    row = FactoryResult(account_id=account_id, chip_uid=chip_uid.hex(), station=station, passed=passed,
                        step=step, reason=reason, date_created=now or utc_now())
    session.add(row)
    session.flush()
    return row


def results_statement(account_id: int, chip_uid: bytes | None = None, station: str | None = None) -> Select:
    statement = select(FactoryResult).where(FactoryResult.account_id == account_id)
    if chip_uid is not None:
        statement = statement.where(FactoryResult.chip_uid == chip_uid.hex())
    if station is not None:
        statement = statement.where(FactoryResult.station == station)
    return statement


def record_rejection(session: Session, account_id: int, status: int, reason: str, *,
                     card_sid: str | None = None, chip_uid: bytes | None = None, station: str | None = None,
                     now: datetime.datetime | None = None) -> FactoryRejection:
    row = FactoryRejection(account_id=account_id, card_sid=card_sid,
                           chip_uid=None if chip_uid is None else chip_uid.hex(), station=station,
                           status=status, reason=reason, date_created=now or utc_now())
    session.add(row)
    session.flush()
    return row


def rejections_statement(account_id: int) -> Select:
    return select(FactoryRejection).where(FactoryRejection.account_id == account_id)
