"""What every console request goes through: security headers, error pages, form limits, CSRF checks."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ServiceError
from .markup import document, link, tag

log = logging.getLogger(__name__)

# No inline script or style anywhere: the console's one script and stylesheet are files of its own.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}
API_PREFIX = "/console/api/"
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 32 * 1024
MAX_FIELDS = 16
TOKEN_FIELD, TOKEN_HEADER = "csrf", "x-csrf-token"


class Refusal(Exception):
    """A request the console refuses: the status and one sentence for the person."""

    def __init__(self, status: int, sentence: str, back: tuple[str, str] | None = None):
        super().__init__(sentence)
        self.status = status
        self.sentence = sentence
        self.back = back  # (path, words) of the page to go back to


class NotSignedIn(Exception):
    """No valid session: a page sends the browser to the sign-in form, the script's endpoints say 401."""


TITLES = {400: "Bad request", 401: "Not signed in", 403: "Refused", 404: "Not found", 405: "Not allowed",
          409: "Not possible now", 413: "Too large", 500: "Something went wrong",
          503: "Not available now"}


def page_for(status: int, sentence: str, request: Request, back: tuple[str, str] | None = None) -> Response:
    """The error as the client wants it: JSON for the script's endpoints, else a one-sentence page."""
    if request.url.path.startswith(API_PREFIX) or "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"status": status, "message": sentence}, status_code=status)
    href, words = back or ("/", "Back to the devices")
    body = tag("p", sentence, class_="error", role="alert") + tag("p", link(href, words))
    title = TITLES.get(status, "Refused")
    visitor = _visitor(request) if status != 500 else None
    page = document(title, body, page="error", account_sid=visitor.account_sid if visitor else None,
                    csrf=visitor.csrf if visitor else None)
    return HTMLResponse(page, status_code=status)


def _visitor(request: Request):
    """The signed-in visitor, for the navigation bar of an error page (None when not signed in)."""
    from .sessions import signed_in_or_none  # sessions raises this module's NotSignedIn

    try:
        return signed_in_or_none(request)
    except Exception:  # the page says what went wrong; a second failure here only loses the bar
        log.debug("no session for an error page", exc_info=True)
        return None


NOT_FOUND = "There is no such page in this account."


def not_found(request: Request) -> Response:
    return page_for(404, NOT_FOUND, request)


def secure(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers[name] = value
    response.headers.setdefault("Cache-Control", "no-store")
    return response


class ConsoleRoute(APIRoute):
    """A console route: whatever happens, the answer is HTML (or the script's JSON) with the security
    headers, never the API's JSON errors and never a traceback."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            refusal: Refusal | None = None
            try:
                response = await handler(request)
            except NotSignedIn:
                if request.url.path.startswith(API_PREFIX) or request.method != "GET":
                    refusal = Refusal(401, "Sign in again: this session has ended.")
                else:
                    response = RedirectResponse(signin_location(request), status_code=303)
            except Refusal as exc:
                refusal = exc
            except ServiceError as exc:  # the store's NotFound and Conflict
                refusal = Refusal(exc.status, NOT_FOUND if exc.status == 404 else exc.message)
            except RequestValidationError:
                refusal = Refusal(400, "This request is not one the console understands.")
            except StarletteHTTPException as exc:  # the body limit (413)
                refusal = Refusal(exc.status_code, str(exc.detail))
            except Exception:
                log.exception("the web console failed to serve %s %s", request.method, request.url.path)
                refusal = Refusal(500, "The console failed to show this; the server log says why.")
            if refusal is not None:  # its page looks the session up for the navigation bar: not in the loop
                response = await run_in_threadpool(page_for, refusal.status, refusal.sentence, request,
                                                   refusal.back)
            return secure(response)

        return guarded


def console_router() -> APIRouter:
    """A router whose routes are ConsoleRoutes, left out of the API's OpenAPI document."""
    return APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def signin_location(request: Request) -> str:
    """/signin, with the page asked for to come back to after signing in."""
    path = request.url.path
    return "/signin" if path == "/" else "/signin?" + urlencode({"next": path})


def safe_next(value: str | None) -> str:
    """A place to go after signing in: a path of this site only (no scheme, no host, no //)."""
    if (not value or len(value) > 300 or not value.startswith("/") or value.startswith("//")
            or any(not (c.isascii() and c.isprintable()) or c in "\\\"'<>" for c in value)):
        return "/"
    return value


def same_origin(request: Request) -> bool:
    """False when the request names where it comes from (Origin, else Referer) and that is not this Host."""
    source = request.headers.get("origin")
    if source is None:
        source = request.headers.get("referer")
        if source is None:
            return True
    host = request.headers.get("host", "")
    try:
        parts = urlsplit(source)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.lower()


def check_origin(request: Request) -> None:
    if not same_origin(request):
        raise Refusal(403, "This form was sent from another site, so it was refused.")


def check_token(request: Request, form: dict[str, str], expected: str) -> None:
    """The session's form token, from the form or the script's header, must be the one given."""
    given = form.get(TOKEN_FIELD) or request.headers.get(TOKEN_HEADER) or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refusal(403, "This form has no valid form token; reload the page and try again.")


async def read_form(request: Request, limits: dict[str, int]) -> dict[str, str]:
    """The urlencoded form's fields named in limits (name → the most characters it may have), read no
    further than MAX_FORM_BYTES; other fields are ignored, the first of a repeated one counts."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise Refusal(400, f"This form is larger than the {MAX_FORM_BYTES} bytes the console takes.")
    if media_type != FORM_TYPE and (media_type or body):  # no body at all is an empty form
        raise Refusal(400, f"The console takes forms sent as {FORM_TYPE} only.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "This form could not be read.") from None
    limits = {TOKEN_FIELD: 128, **limits}
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in limits and name not in form:
            if len(value) > limits[name]:
                raise Refusal(400, f"The field {name} is longer than {limits[name]} characters.")
            form[name] = value
    return form
