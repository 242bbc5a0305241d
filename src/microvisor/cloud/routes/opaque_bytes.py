"""What the routes relaying a device's opaque bytes share (remote debugging, the console): the device of
the caller's account, a raw request body read within a limit, a live stream of stored messages."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request
from fastapi.responses import StreamingResponse

from .. import params, resources, schemas
from ..errors import InvalidRequest, TooLarge, UnsupportedMediaType
from ..log_stream import LogWakeups, sse_response
from ..service import Service
from ..store import debug_messages
from ..store.devices import find_device

OCTET_STREAM = "application/octet-stream"
DevicePath = Annotated[params.DeviceReference, Path(alias="DeviceSid",
                                                    description="The device SID or unique name.")]
AFTER_HELP = "Start after this sequence (default: new messages)"


def device_of(service: Service, account_id: int, reference: str) -> tuple[int, str]:
    """The account's device (id, SID), else NotFound: another account's device is not found either."""
    with service.database.transaction() as session:
        device = find_device(session, account_id, reference)
        return device.id, device.sid


async def octet_stream_body(request: Request, what: str, limit: int) -> bytes:
    """The request body, 1 to `limit` bytes of application/octet-stream (`what` names it in errors); read
    no further than the limit."""
    what = what[:1].upper() + what[1:]
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != OCTET_STREAM:
        raise UnsupportedMediaType(f"{what} is sent as {OCTET_STREAM}, not "
                                   f"{media_type or 'a body without a Content-Type'}.")
    too_large = TooLarge(f"{what} is at most {limit} bytes.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    payload = bytearray()
    async for part in request.stream():
        payload += part
        if len(payload) > limit:
            raise too_large
    if not payload:
        raise InvalidRequest(f"{what} is 1 to {limit} bytes; this one is empty.")
    return bytes(payload)


def post_responses() -> dict:
    """The documented refusals of a POST of raw bytes, beyond the common ones."""
    return {413: {"model": schemas.Error, "description": "Over the size limit"},
            415: {"model": schemas.Error, "description": f"Not {OCTET_STREAM}"},
            503: {"model": schemas.Error, "description": "This server process runs no device link"}}


def request_body(description: str) -> dict:
    """The OpenAPI request body of a POST of raw bytes."""
    return {"requestBody": {"required": True, "description": description,
                            "content": {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}}}}


def stream_responses(event: str, what: str) -> dict:
    return {200: {"content": {"text/event-stream": {}},
                  "description": f"`event: {event}` messages, id the sequence; data {{device_sid, sequence, "
                                 f"payload ({what} in base64), date_created}}."}}


def follow(request: Request, service: Service, device_id: int, sid: str, start: int | None, stream: str,
           wakeups: LogWakeups) -> StreamingResponse:
    """Server-sent events (named as the stream) of the device's stored messages of `stream` after the
    sequence `start` (None: only new ones), live."""
    if start is None:
        with service.database.transaction() as session:
            start = debug_messages.last_sequence(session, device_id, stream=stream)

    def fetch(after_sequence: int) -> list[dict]:
        with service.database.transaction() as reading:
            rows = debug_messages.messages_after(reading, device_id, after_sequence, stream=stream)
            return [resources.stream_message(sid, row) for row in rows]

    return sse_response(request, wakeups, device_id, start, fetch, stream)
