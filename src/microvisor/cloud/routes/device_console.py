"""This service's addition: a device's console, the opaque-bytes channel its application opens with the
endpoint "console": what a person types goes down to it, what the application writes comes up (live).

Input is handed to the link worker of the process that took the request, which passes it (over the
broker) to the relay serving the device's console channel in whichever process that is
(cloud/channel_relay.py); the relay sends it within the window the device's receive buffer leaves and
queues the rest (up to 64 KiB). Input for a device without an open console channel is dropped.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ...common import channel_link
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
TAG = "MicrovisorV1DeviceConsole"
MAX_INPUT = channel_link.MAX_DATA  # bytes of one POST: one data message to the device


@router.post("/v1/Devices/{DeviceSid}/Console", operation_id="CreateDeviceConsoleInput", tags=[TAG],
             status_code=202, response_model=schemas.DeviceConsoleInputSent, responses=post_responses(),
             openapi_extra=request_body(
                 f"Bytes for the application to read from its console channel, as they are: 1 to "
                 f"{MAX_INPUT} bytes (a line typed is sent with its \"\\n\")."))
async def send_console_input(request: Request, service: ServiceDep, caller: CurrentCaller,
                             device_sid: DevicePath) -> dict:
    """Type at a device's console: the bytes reach its application in order, as fast as it reads them
    (flow-controlled by its receive buffer). 202: handed to the device link; bytes for a device whose
    application has no console channel open, or beyond the 64 KiB waiting for it, are dropped."""
    _, sid = await run_in_threadpool(device_of, service, caller.account_id, device_sid)
    data = await octet_stream_body(request, "console input", MAX_INPUT)
    if not service.console_input(sid, data):
        raise Unavailable("This server process runs no device link; try again later.")
    return {"device_sid": sid, "bytes": len(data)}


@router.get("/v1/Devices/{DeviceSid}/Console/Stream", operation_id="StreamDeviceConsoleOutput", tags=[TAG],
            response_class=StreamingResponse, responses=stream_responses("console", "the bytes written"))
def stream_console_output(
    request: Request, service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
    after: Annotated[params.RowId | None, Query(alias="After", description=AFTER_HELP)] = None,
    last_event_id: Annotated[params.RowId | None, Header(alias="Last-Event-ID", include_in_schema=False)]
    = None,
) -> StreamingResponse:
    """Follow what a device's application writes on its console channel, as server-sent events, bytes as
    they came, in order; output is kept 10 minutes (a device's newest 1,000 pieces); reconnecting with
    Last-Event-ID resumes."""
    device_id, sid = device_of(service, caller.account_id, device_sid)
    start = last_event_id if last_event_id is not None else after
    return follow(request, service, device_id, sid, start, debug_messages.CONSOLE,
                  service.link.console_wakeups)
