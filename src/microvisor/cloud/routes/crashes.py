"""This service's addition: devices' crash reports, symbolicated, and their groups by signature."""

from __future__ import annotations

import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from .. import paging, params, resources, schemas
from ..auth import CurrentCaller
from ..errors import InvalidRequest, NotFound
from ..models import CrashGroup, CrashReport
from ..paging import PageParams
from ..store import apps, crashes
from .context import ERRORS, ServiceDep, base_url

router = APIRouter(responses=ERRORS)
TAG, GROUP_TAG = "MicrovisorV1CrashReport", "MicrovisorV1CrashGroup"


@router.get("/v1/Crashes", operation_id="ListCrashReport", tags=[TAG],
            response_model=schemas.ListCrashReportResponse)
def list_crashes(
    request: Request, service: ServiceDep, caller: CurrentCaller, page: PageParams,
    app: Annotated[params.AppReference | None, Query(alias="App", description="Only the crashes of this "
                                                     "app (SID or unique name); an app the account lacks "
                                                     "is a 400.")] = None,
    since: Annotated[params.Moment | None, Query(alias="Since", description="Only crashes received at or "
                                                 "after this moment (ISO 8601 with its offset).")] = None,
) -> dict:
    """The account's crash reports, oldest first: the fault in words and the frames symbolicated with the
    app's ELF, when the app was uploaded with one."""
    moment = datetime.datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
    filters = {name: value for name, value in (("App", app), ("Since", since)) if value}
    with service.database.transaction() as session:
        app_id = None
        if app:
            try:
                app_id = apps.find_app(session, caller.account_id, app).id
            except NotFound:
                raise InvalidRequest(f"App {app!r} is not an app of this account.") from None
        found = paging.fetch(session, crashes.reports_statement(caller.account_id, app_id, moment),
                             CrashReport.id, page)
        items = [resources.crash_report(base_url(request), caller.account_sid, row) for row in found.rows]
    return paging.envelope(request, "crashes", items, found, page, filters)


@router.get("/v1/Crashes/{Sid}", operation_id="FetchCrashReport", tags=[TAG],
            response_model=schemas.CrashReportDetail)
def fetch_crash(
    request: Request, service: ServiceDep, caller: CurrentCaller,
    sid: Annotated[params.CrashReportSid, Path(alias="Sid", description="The crash report SID.")],
) -> dict:
    """One crash report: registers, the fault in words, the frames, and the document (or, sealed, the
    report as it came, for the developer to decrypt)."""
    with service.database.transaction() as session:
        row = crashes.find_report(session, caller.account_id, sid)
        return resources.crash_report(base_url(request), caller.account_sid, row, detail=True)


@router.get("/v1/CrashGroups", operation_id="ListCrashGroup", tags=[GROUP_TAG],
            response_model=schemas.ListCrashGroupResponse)
def list_crash_groups(request: Request, service: ServiceDep, caller: CurrentCaller, page: PageParams) -> dict:
    """The account's crash groups, oldest first: each signature's count, first and last time seen, and
    counts per app version and per device."""
    with service.database.transaction() as session:
        found = paging.fetch(session, crashes.groups_statement(caller.account_id), CrashGroup.id, page)
        items = [_group(request, caller.account_sid, session, row) for row in found.rows]
    return paging.envelope(request, "crash_groups", items, found, page)


@router.get("/v1/CrashGroups/{Sid}", operation_id="FetchCrashGroup", tags=[GROUP_TAG],
            response_model=schemas.CrashGroup)
def fetch_crash_group(
    request: Request, service: ServiceDep, caller: CurrentCaller,
    sid: Annotated[params.CrashGroupSid, Path(alias="Sid", description="The crash group SID.")],
) -> dict:
    """One crash group."""
    with service.database.transaction() as session:
        row = crashes.find_group(session, caller.account_id, sid)
        return _group(request, caller.account_sid, session, row)


def _group(request: Request, account_sid: str, session, row: CrashGroup) -> dict:
    return resources.crash_group(base_url(request), account_sid, row, crashes.group_versions(session, row.id),
                                 crashes.group_devices(session, row.id))
