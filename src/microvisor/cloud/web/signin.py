"""Signing in to the console with the account SID and auth token, and signing out."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from . import sessions
from .guard import Refusal, check_origin, check_token, console_router, read_form, safe_next
from .markup import Markup, document, hidden, tag
from .sessions import COOKIE, LIFETIME, SignInError, Visitor

router = console_router()
FORM_COOKIE = "mv_signin"  # the sign-in form's own token (no session yet): a form from elsewhere lacks it
FORM_LIFETIME = 3600
MAX_SID, MAX_TOKEN = 64, 256


def _form(form_token: str, next_path: str, sid: str = "", problem: str | None = None) -> Markup:
    fields = [
        tag("label", "Account SID", tag("input", name="AccountSid", value=sid, required=True,
                                        autocomplete="username", maxlength=str(MAX_SID), spellcheck="false",
                                        autofocus=True)),
        tag("label", "Auth token", tag("input", name="AuthToken", type="password", required=True,
                                       maxlength=str(MAX_TOKEN), autocomplete="current-password")),
        hidden("csrf", form_token), hidden("next", next_path),
        tag("button", "Sign in", type="submit"),
    ]
    said = tag("p", problem, class_="error", role="alert") if problem else Markup("")
    note = tag("p", "The same credentials as the REST API: ", tag("code", "microvisor server"),
               " printed them when it made the account, and keeps them in ", tag("code", "credentials.json"),
               " in its data folder.", class_="note")
    return said + tag("form", fields, method="post", action="/signin", class_="signin") + note


def _form_page(next_path: str, status: int = 200, sid: str = "", problem: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = HTMLResponse(document("Sign in", _form(token, next_path, sid, problem), page="signin"),
                            status_code=status)
    response.set_cookie(FORM_COOKIE, token, max_age=FORM_LIFETIME, path="/signin", httponly=True,
                        samesite="strict")
    return response


@router.get("/signin")
def signin_page(request: Request, next_path: Annotated[str | None, Query(alias="next")] = None) -> Response:
    if sessions.signed_in_or_none(request) is not None:
        return RedirectResponse(safe_next(next_path), status_code=303)
    return _form_page(safe_next(next_path))


@router.post("/signin")
async def sign_in(request: Request) -> Response:
    check_origin(request)
    form = await read_form(request, {"AccountSid": MAX_SID, "AuthToken": MAX_TOKEN, "next": 300})
    expected = request.cookies.get(FORM_COOKIE, "")
    if not expected or not hmac.compare_digest(form.get("csrf", "").encode(), expected.encode()):
        raise Refusal(403, "This sign-in form has expired or came from elsewhere; open the sign-in page "
                           "again.", ("/signin", "Open the sign-in page"))
    sid, token = form.get("AccountSid", "").strip(), form.get("AuthToken", "")
    next_path = safe_next(form.get("next"))

    def begin() -> str:
        with request.app.state.service.database.transaction() as session:
            return sessions.start(session, sessions.check_credentials(session, sid, token))

    try:
        session_token = await run_in_threadpool(begin)
    except SignInError as exc:
        return _form_page(next_path, exc.status, sid if len(sid) <= MAX_SID else "", exc.sentence)
    response = RedirectResponse(next_path, status_code=303)
    # No Secure flag: the server speaks plain HTTP on loopback by default (a TLS proxy in front may add it).
    response.set_cookie(COOKIE, session_token, max_age=int(LIFETIME.total_seconds()), path="/", httponly=True,
                        samesite="strict")
    response.delete_cookie(FORM_COOKIE, path="/signin", httponly=True, samesite="strict")
    return response


@router.post("/signout")
async def sign_out(request: Request, visitor: Visitor) -> Response:
    check_origin(request)
    check_token(request, await read_form(request, {}), visitor.csrf)

    def end() -> None:
        with request.app.state.service.database.transaction() as session:
            sessions.end(session, visitor.session_id)

    await run_in_threadpool(end)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
