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


def authenticate(request: Request,
                 credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)]) -> Caller:
    if credentials is None:
        raise Unauthorized("Authenticate with HTTP Basic: the account SID and its auth token.")
    sid, token = credentials.username, credentials.password
    if is_sid(sid, "AC"):
        with request.app.state.service.database.transaction() as session:
            account = session.scalar(select(Account).where(Account.sid == sid))
            if account is not None and hmac.compare_digest(account.auth_token_hash, hash_token(token)):
                if account.disabled:
                    raise Unauthorized(f"Account {sid} is disabled.")
                return Caller(account.id, account.sid)
    raise Unauthorized("The account SID or auth token is wrong.")


CurrentCaller = Annotated[Caller, Depends(authenticate)]
