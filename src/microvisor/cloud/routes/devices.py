"""Devices: list, fetch, update (target app, name, logging, restarts); this service's addition: register."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request, Response
from sqlalchemy.orm import Session

from .. import paging, params, resources, schemas
from ..auth import CurrentCaller
from ..models import Device
from ..paging import PageParams
from ..registration import enroll
from ..store import devices
from ..store.apps import app_sids_by_hash
from .context import ERRORS, ServiceDep, base_url

router = APIRouter(responses=ERRORS)
TAG = "MicrovisorV1Device"
DevicePath = Annotated[params.DeviceReference, Path(alias="Sid",
                                                    description="The device SID or unique name.")]


async def submitted_form(request: Request) -> dict[str, str]:
    """The form as sent: FastAPI reads an empty optional field as absent, but "" clears a property."""
    return {name: value for name, value in (await request.form()).items() if isinstance(value, str)}


def _render(request: Request, session: Session, account_sid: str, rows: list[Device]) -> list[dict]:
    if not rows:
        return []
    hashes = {row.reported_hash for row in rows if row.reported_hash}
    reported = app_sids_by_hash(session, rows[0].account_id, hashes)
    return [resources.device(base_url(request), account_sid, row, reported.get(row.reported_hash or ""))
            for row in rows]


@router.get("/v1/Devices", operation_id="ListDevice", tags=[TAG], response_model=schemas.ListDeviceResponse)
def list_devices(request: Request, service: ServiceDep, caller: CurrentCaller, page: PageParams) -> dict:
    """Retrieve a list of all Devices registered with the Account."""
    with service.database.transaction() as session:
        found = paging.fetch(session, devices.devices_statement(caller.account_id), Device.id, page)
        items = _render(request, session, caller.account_sid, found.rows)
    return paging.envelope(request, "devices", items, found, page)


@router.post("/v1/Devices", operation_id="CreateDevice", tags=[TAG], status_code=201,
             response_model=schemas.DeviceRegistration,
             responses={200: {"model": schemas.DeviceRegistration,
                              "description": "Registered already: the certificate is issued again"}})
def register_device(
    request: Request, response: Response, service: ServiceDep, caller: CurrentCaller,
    chip_uid: Annotated[str, Form(alias="ChipUid", description="The chip's 96-bit unique ID, in hex.")],
    csr: Annotated[str | None, Form(alias="Csr", description="PEM certificate signing request.")] = None,
    public_key: Annotated[str | None, Form(alias="PublicKey", description="PEM P-256 public key.")] = None,
    unique_name: Annotated[params.UniqueName | None, Form(alias="UniqueName")] = None,
) -> dict:
    """Register a device: its SID (from the chip UID), a certificate from the platform CA for its key
    (CN = SID) and the platform's signed kernel. 201 when new; 200 re-issues the certificate of a
    device this account has."""
    enrollment = enroll(service.platform, chip_uid, csr, public_key)
    kernel = service.kernel_bundle()
    with service.database.transaction() as session:
        row, created = devices.register_device(session, caller.account_id, enrollment.sid,
                                               enrollment.chip_uid, enrollment.certificate_pem,
                                               unique_name or None)
        resource = _render(request, session, caller.account_sid, [row])[0]
    response.status_code = 201 if created else 200
    return {**resource, "certificate": enrollment.certificate_pem,
            "ca_certificate": service.platform.ca_pem().decode(),
            "kernel_bundle": base64.b64encode(kernel).decode(), "broker": service.broker_address}


@router.get("/v1/Devices/{Sid}", operation_id="FetchDevice", tags=[TAG], response_model=schemas.Device)
def fetch_device(request: Request, service: ServiceDep, caller: CurrentCaller, sid: DevicePath) -> dict:
    """Fetch a specific Device."""
    with service.database.transaction() as session:
        row = devices.find_device(session, caller.account_id, sid)
        return _render(request, session, caller.account_sid, [row])[0]


@router.post("/v1/Devices/{Sid}", operation_id="UpdateDevice", tags=[TAG], response_model=schemas.Device)
def update_device(
    request: Request, service: ServiceDep, caller: CurrentCaller, sid: DevicePath,
    form: Annotated[dict[str, str], Depends(submitted_form)],
    unique_name: Annotated[params.UniqueName | None, Form(alias="UniqueName", description="Empty clears it.")]
    = None,
    target_app: Annotated[params.AppReference | None,
                          Form(alias="TargetApp", description="App SID or unique name; empty clears it.")]
    = None,
    logging_enabled: Annotated[bool | None, Form(alias="LoggingEnabled",
                                                 description="Enable (24 hours) or disable logging.")] = None,
    restart_app: Annotated[bool, Form(alias="RestartApp", description="Restart the device's app.")] = False,
    restart_device: Annotated[bool, Form(alias="RestartDevice",
                                         description="This service's addition: restart the device.")] = False,
) -> dict:
    """Update a specific Device. Restarts are queued for the link to deliver."""
    unique_name = form.get("UniqueName", unique_name)
    target_app = form.get("TargetApp", target_app)
    changes = devices.DeviceChanges(unique_name, target_app, logging_enabled, restart_app, restart_device)
    with service.database.transaction() as session:
        row = devices.update_device(session, devices.find_device(session, caller.account_id, sid), changes)
        return _render(request, session, caller.account_sid, [row])[0]
