"""The service's errors and how they look on the wire: JSON {code, message, more_info, status}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger(__name__)

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"
# Error codes follow the v1 API's catalogue where it has one (20001 invalid parameter,
# 20003 authentication, 20404 not found); other statuses use 20000 + the HTTP status.
_CODES = {400: 20001, 401: 20003}


def error_code(status: int) -> int:
    return _CODES.get(status, 20000 + status)


class ServiceError(Exception):
    """An error the API reports to its caller; the message is one sentence for a person."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidRequest(ServiceError):
    status = 400


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    """The caller may not do this (a factory card that is not its own, revoked, or out of licences)."""

    status = 403


class NotFound(ServiceError):
    """No such resource for this account (another account's resources do not exist for it)."""

    status = 404


class Conflict(ServiceError):
    status = 409


class TooLarge(ServiceError):
    status = 413


class UnsupportedMediaType(ServiceError):
    status = 415


class Unavailable(ServiceError):
    """The service cannot do this now (a part it needs is not running); the request may be tried again."""

    status = 503


def body(status: int, message: str) -> dict:
    code = error_code(status)
    return {"code": code, "message": message, "more_info": MORE_INFO.format(code=code), "status": status}


def response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body(status, message), status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Turn every error the app can raise into the JSON error envelope."""

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        message = exc.message
        if isinstance(exc, NotFound):
            message = f"The requested resource {request.url.path} was not found"
        headers = {"WWW-Authenticate": 'Basic realm="Microvisor"'} if isinstance(exc, Unauthorized) else None
        return response(exc.status, message, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return response(400, _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return response(404, f"The requested resource {request.url.path} was not found")
        if exc.status_code == 405:
            return response(405, f"{request.method} is not a method of {request.url.path}.",
                            {"Allow": ", ".join(_allowed_methods(request))})
        return response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error serving %s %s", request.method, request.url.path)
        return response(500, "The service failed to handle this request; the server log says why.")


_LOCATIONS = ("body", "query", "path", "header", "cookie")


def _describe_validation(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = [str(part) for part in error.get("loc", ()) if part not in _LOCATIONS]
        name = ".".join(where) or "request"
        if error.get("type") == "missing":
            problems.append(f"{name} is required")
        else:
            problems.append(f"{name}: {error.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(problems) + "."


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (the router names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)
