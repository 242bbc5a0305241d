"""A cap on request bodies: one over the limit is refused with 413 as soon as that is known, never read."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..common.bundle_format import MAX_UPLOAD
from .errors import response

DEFAULT_MAX_BODY = MAX_UPLOAD


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"The request body is larger than the {limit}-byte limit of this service.")


class BodyLimit:
    """ASGI middleware: a declared Content-Length over `limit` is answered at once; a body that turns
    out longer while it streams in stops the request with 413 (HTTPException, which FastAPI's body
    parsing and the error handlers pass on as is)."""

    def __init__(self, app: ASGIApp, limit: int = DEFAULT_MAX_BODY):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _refuse(send, self.limit)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise too_large(self.limit)
            return message

        await self.app(scope, counted, send)


async def _refuse(send: Send, limit: int) -> None:
    reply = response(413, too_large(limit).detail)
    await send({"type": "http.response.start", "status": reply.status_code,
                "headers": [*reply.raw_headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": reply.body})
