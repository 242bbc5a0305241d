"""Accounts: create one with a fresh SID and auth token, make sure a known one exists, list, disable."""

from __future__ import annotations

import hmac

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...common.sids import is_sid, new_sid
from ..auth import hash_token, new_auth_token
from ..clock import utc_now
from ..models import Account


class AccountMismatch(Exception):
    """An account exists under this SID with another auth token."""


def create_account(session: Session, friendly_name: str = "") -> tuple[Account, str]:
    """A new account and its auth token (shown once; the store keeps only its hash)."""
    token = new_auth_token()
    account = Account(sid=new_sid("AC"), auth_token_hash=hash_token(token), friendly_name=friendly_name,
                      date_created=utc_now())
    session.add(account)
    session.flush()
    return account, token


def ensure_account(session: Session, sid: str, token: str, friendly_name: str = "") -> Account:
    """The account with this SID, created with this token when the database does not have it yet."""
    if not is_sid(sid, "AC"):
        raise ValueError(f"{sid!r} is not an account SID")
    account = session.scalar(select(Account).where(Account.sid == sid))
    if account is None:
        account = Account(sid=sid, auth_token_hash=hash_token(token), friendly_name=friendly_name,
                          date_created=utc_now())
        session.add(account)
        session.flush()
    elif not hmac.compare_digest(account.auth_token_hash, hash_token(token)):
        raise AccountMismatch(f"account {sid} exists in the database with another auth token")
    return account


def list_accounts(session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.id)))


def set_disabled(session: Session, sid: str, disabled: bool) -> Account:
    """Disable (or enable again) the account with this SID; LookupError if there is none."""
    account = session.scalar(select(Account).where(Account.sid == sid)) if is_sid(sid, "AC") else None
    if account is None:
        raise LookupError(f"there is no account {sid}")
    account.disabled = disabled
    session.flush()
    return account
