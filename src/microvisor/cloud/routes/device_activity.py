"""This service's additions: a device's logs (a list, and a live stream of server-sent events) and events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse

from .. import paging, params, resources, schemas
from ..auth import CurrentCaller
from ..log_stream import sse_response
from ..models import DeviceEvent, DeviceLog
from ..paging import PageParams
from ..store import activity
from ..store.devices import find_device
from .context import ERRORS, ServiceDep

router = APIRouter(responses=ERRORS)
LOGS_TAG, EVENTS_TAG = "MicrovisorV1DeviceLog", "MicrovisorV1DeviceEvent"
DevicePath = Annotated[params.DeviceReference, Path(alias="DeviceSid",
                                                    description="The device SID or unique name.")]


@router.get("/v1/Devices/{DeviceSid}/Logs", operation_id="ListDeviceLog", tags=[LOGS_TAG],
            response_model=schemas.ListDeviceLogResponse)
def list_device_logs(request: Request, service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
                     page: PageParams) -> dict:
    """The log lines a device's app sent, oldest first."""
    with service.database.transaction() as session:
        device = find_device(session, caller.account_id, device_sid)
        found = paging.fetch(session, activity.logs_statement(device), DeviceLog.id, page)
        items = [resources.log_line(device.sid, row) for row in found.rows]
    return paging.envelope(request, "logs", items, found, page)


@router.get("/v1/Devices/{DeviceSid}/Logs/Stream", operation_id="StreamDeviceLog", tags=[LOGS_TAG],
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`event: log` messages: data a DeviceLog, id its sequence."}})
def stream_device_logs(
    request: Request, service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
    after: Annotated[params.RowId | None, Query(alias="After",
                                                description="Start after this sequence (default: new lines)")]
    = None,
    last_event_id: Annotated[params.RowId | None, Header(alias="Last-Event-ID", include_in_schema=False)]
    = None,
) -> StreamingResponse:
    """Follow a device's logs live, as server-sent events; reconnecting with Last-Event-ID resumes."""
    with service.database.transaction() as session:
        device = find_device(session, caller.account_id, device_sid)
        start = last_event_id if last_event_id is not None else after
        if start is None:
            start = activity.last_log_sequence(session, device.id)
        device_id, sid = device.id, device.sid

    def fetch(after_sequence: int) -> list[dict]:
        with service.database.transaction() as reading:
            rows = activity.logs_after(reading, device_id, after_sequence)
            return [resources.log_line(sid, row) for row in rows]

    return sse_response(request, service.wakeups, device_id, start, fetch, "log")


@router.get("/v1/Devices/{DeviceSid}/Events", operation_id="ListDeviceEvent", tags=[EVENTS_TAG],
            response_model=schemas.ListDeviceEventResponse)
def list_device_events(request: Request, service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
                       page: PageParams) -> dict:
    """What happened to a device, oldest first: registered, connected, disconnected, app-targeted,
    app-reported, update-complete, update-failed, crash, restart-requested."""
    with service.database.transaction() as session:
        device = find_device(session, caller.account_id, device_sid)
        found = paging.fetch(session, activity.events_statement(device), DeviceEvent.id, page)
        items = [resources.event(device.sid, row) for row in found.rows]
    return paging.envelope(request, "events", items, found, page)
