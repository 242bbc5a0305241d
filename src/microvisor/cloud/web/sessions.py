"""Console sign-ins kept in the database (shared by server processes): credentials, sessions, cookies."""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..auth import account_for, hash_token
from ..clock import utc_now
from ..models import Account, WebSession
from .guard import NotSignedIn

COOKIE = "mv_session"
LIFETIME = datetime.timedelta(hours=12)
MAX_SESSIONS = 50  # per account: signing in again past this ends the oldest
TOKEN_BYTES = 32
MAX_COOKIE = 100  # characters: token_urlsafe(32) is 43


class SignInError(Exception):
    """Credentials refused: the HTTP status and the sentence the person reads."""

    def __init__(self, status: int, sentence: str):
        super().__init__(sentence)
        self.status = status
        self.sentence = sentence


@dataclass(frozen=True)
class SignedIn:
    """The account of a request with a valid session, and that session's form token."""

    account_id: int
    account_sid: str
    csrf: str
    session_id: int


def check_credentials(session: Session, sid: str, token: str) -> Account:
    """The enabled account whose SID and auth token these are (cloud/auth.py), else SignInError."""
    account = account_for(session, sid, token)
    if account is None:
        raise SignInError(401, "The account SID or auth token is wrong.")
    if account.disabled:
        raise SignInError(403, f"Account {sid} is disabled, so it cannot sign in.")
    return account


def start(session: Session, account: Account, now: datetime.datetime | None = None) -> str:
    """A new session for the account; returns its token (the cookie's value; the store keeps its hash).
    Expired sessions go, and the account's oldest beyond MAX_SESSIONS."""
    now = now or utc_now()
    session.execute(delete(WebSession).where(WebSession.date_expires <= now))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(WebSession(token_hash=hash_token(token), account_id=account.id,
                           csrf_token=secrets.token_hex(32), date_created=now, date_expires=now + LIFETIME))
    session.flush()
    oldest_kept = session.scalar(select(WebSession.id).where(WebSession.account_id == account.id)
                                 .order_by(WebSession.id.desc()).offset(MAX_SESSIONS - 1).limit(1))
    if oldest_kept is not None:
        session.execute(delete(WebSession).where(WebSession.account_id == account.id,
                                                 WebSession.id < oldest_kept))
    return token


def find(session: Session, token: str | None, now: datetime.datetime | None = None) -> SignedIn | None:
    """The signed-in account of this cookie value, if its session is valid; an expired session, or one of
    an account disabled since, is deleted when met."""
    if not token or len(token) > MAX_COOKIE:
        return None
    row = session.scalar(select(WebSession).where(WebSession.token_hash == hash_token(token)))
    if row is None:
        return None
    account = session.get(Account, row.account_id)
    if row.date_expires <= (now or utc_now()) or account is None or account.disabled:
        session.delete(row)
        session.flush()
        return None
    return SignedIn(account.id, account.sid, row.csrf_token, row.id)


def end(session: Session, session_id: int) -> None:
    session.execute(delete(WebSession).where(WebSession.id == session_id))


def signed_in_or_none(request: Request) -> SignedIn | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    with request.app.state.service.database.transaction() as session:
        return find(session, token)


def signed_in(request: Request) -> SignedIn:
    """The FastAPI dependency of every page and endpoint but sign-in: the session, else NotSignedIn."""
    found = signed_in_or_none(request)
    if found is None:
        raise NotSignedIn()
    return found


Visitor = Annotated[SignedIn, Depends(signed_in)]
