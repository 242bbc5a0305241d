"""This service's addition: remote debugging, opaque messages relayed to a device and (live) from it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ...common import link as wire
from .. import params, resources, schemas
from ..auth import CurrentCaller
from ..log_stream import sse_response
from ..errors import InvalidRequest, TooLarge, Unavailable, UnsupportedMediaType
from ..service import Service
from ..store import debug_messages
from ..store.devices import find_device
from .context import ERRORS, ServiceDep

router = APIRouter(responses=ERRORS)
TAG = "MicrovisorV1DeviceDebug"
OCTET_STREAM = "application/octet-stream"
DevicePath = Annotated[params.DeviceReference, Path(alias="DeviceSid",
                                                    description="The device SID or unique name.")]


def _device(service: Service, account_id: int, reference: str) -> tuple[int, str]:
    """The account's device (id, SID), else NotFound."""
    with service.database.transaction() as session:
        device = find_device(session, account_id, reference)
        return device.id, device.sid


async def _message(request: Request) -> bytes:
    """The request body, 1 to MAX_DEBUG_MESSAGE bytes of application/octet-stream; read no further than
    the limit."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != OCTET_STREAM:
        raise UnsupportedMediaType(f"A debug message is sent as {OCTET_STREAM}, not "
                                   f"{media_type or 'a body without a Content-Type'}.")
    limit = wire.MAX_DEBUG_MESSAGE
    too_large = TooLarge(f"A debug message is at most {limit} bytes.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    payload = bytearray()
    async for part in request.stream():
        payload += part
        if len(payload) > limit:
            raise too_large
    if not payload:
        raise InvalidRequest(f"A debug message is 1 to {limit} bytes; this one is empty.")
    return bytes(payload)


@router.post("/v1/Devices/{DeviceSid}/Debug", operation_id="CreateDeviceDebugMessage", tags=[TAG],
             status_code=202, response_model=schemas.DeviceDebugMessageSent,
             responses={413: {"model": schemas.Error, "description": "Over the size limit"},
                        415: {"model": schemas.Error, "description": f"Not {OCTET_STREAM}"},
                        503: {"model": schemas.Error,
                              "description": "This server process runs no device link"}},
             openapi_extra={"requestBody": {"required": True, "description": (
                 f"The message as the device is to receive it: 1 to {wire.MAX_DEBUG_MESSAGE} bytes."),
                 "content": {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}}}})
async def send_debug_message(request: Request, service: ServiceDep, caller: CurrentCaller,
                             device_sid: DevicePath) -> dict:
    """Relay a remote-debugging message to a device, byte for byte (the service never reads it), on the
    device link (`down/debug`, QoS 1). 202: handed to the link, which delivers it while the device is
    connected; nothing is kept."""
    _, sid = await run_in_threadpool(_device, service, caller.account_id, device_sid)
    payload = await _message(request)
    if not service.send_down(sid, wire.DEBUG, payload):
        raise Unavailable("This server process runs no device link; try again later.")
    return {"device_sid": sid, "bytes": len(payload)}


@router.get("/v1/Devices/{DeviceSid}/Debug/Stream", operation_id="StreamDeviceDebugMessage", tags=[TAG],
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`event: debug` messages, id the sequence; data {device_sid, "
                                            "sequence, payload (the bytes in base64), date_created}."}})
def stream_debug_messages(
    request: Request, service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
    after: Annotated[params.RowId | None, Query(alias="After",
                                                description="Start after this sequence (default: new "
                                                            "messages)")] = None,
    last_event_id: Annotated[params.RowId | None, Header(alias="Last-Event-ID", include_in_schema=False)]
    = None,
) -> StreamingResponse:
    """Follow the remote-debugging messages a device sends, as server-sent events, bytes as they came;
    messages are kept 10 minutes (a device's newest 1,000); reconnecting with Last-Event-ID resumes."""
    device_id, sid = _device(service, caller.account_id, device_sid)
    start = last_event_id if last_event_id is not None else after
    if start is None:
        with service.database.transaction() as session:
            start = debug_messages.last_sequence(session, device_id)

    def fetch(after_sequence: int) -> list[dict]:
        with service.database.transaction() as reading:
            rows = debug_messages.messages_after(reading, device_id, after_sequence)
            return [resources.debug_message(sid, row) for row in rows]

    return sse_response(request, service.debug_wakeups, device_id, start, fetch, "debug")
