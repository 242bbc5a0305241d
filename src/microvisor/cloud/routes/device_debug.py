"""This service's addition: remote debugging, opaque messages relayed to a device and (live) from it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ...common import link as wire
from .. import params, schemas
from ..auth import CurrentCaller
from ..errors import Unavailable
from ..store import debug_messages
from .context import ERRORS, ServiceDep
from .opaque_bytes import (
    AFTER_HELP,
    DevicePath,
    device_of,
    follow,
    octet_stream_body,
    post_responses,
    request_body,
    stream_responses,
)

router = APIRouter(responses=ERRORS)
TAG = "MicrovisorV1DeviceDebug"


@router.post("/v1/Devices/{DeviceSid}/Debug", operation_id="CreateDeviceDebugMessage", tags=[TAG],
             status_code=202, response_model=schemas.DeviceDebugMessageSent, responses=post_responses(),
             openapi_extra=request_body(
                 f"The message as the device is to receive it: 1 to {wire.MAX_DEBUG_MESSAGE} bytes."))
async def send_debug_message(request: Request, service: ServiceDep, caller: CurrentCaller,
                             device_sid: DevicePath) -> dict:
    """Relay a remote-debugging message to a device, byte for byte (the service never reads it), on the
    device link (`down/debug`, QoS 1). 202: handed to the link, which delivers it while the device is
    connected; nothing is kept."""
    _, sid = await run_in_threadpool(device_of, service, caller.account_id, device_sid)
    payload = await octet_stream_body(request, "a debug message", wire.MAX_DEBUG_MESSAGE)
    if not service.send_down(sid, wire.DEBUG, payload):
        raise Unavailable("This server process runs no device link; try again later.")
    return {"device_sid": sid, "bytes": len(payload)}


@router.get("/v1/Devices/{DeviceSid}/Debug/Stream", operation_id="StreamDeviceDebugMessage", tags=[TAG],
            response_class=StreamingResponse, responses=stream_responses("debug", "the bytes"))
def stream_debug_messages(
    request: Request, service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
    after: Annotated[params.RowId | None, Query(alias="After", description=AFTER_HELP)] = None,
    last_event_id: Annotated[params.RowId | None, Header(alias="Last-Event-ID", include_in_schema=False)]
    = None,
) -> StreamingResponse:
    """Follow the remote-debugging messages a device sends, as server-sent events, bytes as they came;
    messages are kept 10 minutes (a device's newest 1,000); reconnecting with Last-Event-ID resumes."""
    device_id, sid = device_of(service, caller.account_id, device_sid)
    start = last_event_id if last_event_id is not None else after
    return follow(request, service, device_id, sid, start, debug_messages.DEBUG, service.debug_wakeups)
