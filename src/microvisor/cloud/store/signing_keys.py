"""Signing keys: the P-256 public keys an account signs its app bundles with, found by SID or signer id."""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ...common import keys
from ...common.sids import new_sid
from ..clock import utc_now
from ..errors import Conflict, InvalidRequest, NotFound
from ..models import UNIQUE_NAME_LENGTH, SigningKey


def parse_public_key(pem: str) -> keys.PublicKey:
    """The key of a PublicKey form field, or InvalidRequest saying why it is not a PEM P-256 public key."""
    if "PRIVATE KEY" in pem:
        raise InvalidRequest("PublicKey holds a private key; send only the public key (PEM).")
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        raise InvalidRequest("PublicKey is not a PEM public key.") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidRequest("A signing key must be a NIST P-256 key.")
    return key


def signer_hex(signer: int) -> str:
    """A signer id as the API and the CLI write it: 16 hex digits."""
    return f"{signer:016x}"


def create_signing_key(session: Session, account_id: int, public_key_pem: str,
                       friendly_name: str | None) -> SigningKey:
    key = parse_public_key(public_key_pem)
    if friendly_name and (len(friendly_name) > UNIQUE_NAME_LENGTH or not friendly_name.isprintable()):
        raise InvalidRequest(f"FriendlyName must be up to {UNIQUE_NAME_LENGTH} printable characters.")
    signer = signer_hex(keys.signer_id(key))
    existing = session.scalar(select(SigningKey.sid).where(SigningKey.account_id == account_id,
                                                           SigningKey.signer_id == signer))
    if existing is not None:
        raise Conflict(f"Key {signer} is registered with this account already, as {existing}.")
    row = SigningKey(sid=new_sid("SK"), account_id=account_id, signer_id=signer,
                     public_key=keys.public_pem(key).decode(), friendly_name=friendly_name or None,
                     date_created=utc_now())
    session.add(row)
    session.flush()
    return row


def signing_keys_statement(account_id: int) -> Select:
    return select(SigningKey).where(SigningKey.account_id == account_id)


def find_signing_key(session: Session, account_id: int, sid: str) -> SigningKey:
    row = session.scalar(select(SigningKey).where(SigningKey.account_id == account_id, SigningKey.sid == sid))
    if row is None:
        raise NotFound(f"no signing key {sid} in this account")
    return row


def delete_signing_key(session: Session, row: SigningKey) -> None:
    """Forget a key: later uploads signed by it are refused; apps already accepted stay."""
    session.delete(row)
    session.flush()


def registered_keys(session: Session, account_id: int, signers: Iterable[int]) -> dict[int, keys.PublicKey]:
    """Signer id → public key, for those of `signers` the account has registered."""
    wanted = {signer_hex(signer) for signer in signers}
    if not wanted:
        return {}
    rows = session.scalars(select(SigningKey).where(SigningKey.account_id == account_id,
                                                    SigningKey.signer_id.in_(wanted)))
    return {int(row.signer_id, 16): serialization.load_pem_public_key(row.public_key.encode())
            for row in rows}
