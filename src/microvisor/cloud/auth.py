"""HTTP Basic authentication with an account SID and its auth token; the FastAPI dependency routes use."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..common.sids import is_sid
from .errors import Unauthorized
from .models import Account

basic = HTTPBasic(auto_error=False, scheme_name="accountSid_authToken",
                  description="The account SID as user name and its auth token as password.")


def new_auth_token() -> str:
    return secrets.token_hex(16)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """The authenticated account of a request."""

    account_id: int
    account_sid: str


def account_for(session: Session, sid: str, token: str) -> Account | None:
    """The account (enabled or not) whose SID and auth token these are; None when they are wrong. The REST
    API and the web console's sign-in both check credentials here."""
    if not is_sid(sid, "AC"):
        return None
    account = session.scalar(select(Account).where(Account.sid == sid))
    if account is None or not hmac.compare_digest(account.auth_token_hash, hash_token(token)):
        return None
    return account


def authenticate(request: Request,
                 credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)]) -> Caller:
    if credentials is None:
        raise Unauthorized("Authenticate with HTTP Basic: the account SID and its auth token.")
    with request.app.state.service.database.transaction() as session:
        account = account_for(session, credentials.username, credentials.password)
        if account is None:
            raise Unauthorized("The account SID or auth token is wrong.")
        if account.disabled:
            raise Unauthorized(f"Account {account.sid} is disabled.")
        return Caller(account.id, account.sid)


CurrentCaller = Annotated[Caller, Depends(authenticate)]
