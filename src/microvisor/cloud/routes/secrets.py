"""Secrets of the account (/v1/Secrets) and of a device (/v1/Devices/{DeviceSid}/Secrets), write-only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request, Response

from .. import paging, params, resources, schemas
from ..auth import CurrentCaller
from ..models import Secret
from ..paging import PageParams
from ..store import variables
from ..store.devices import find_device
from .context import ERRORS, ServiceDep, base_url

router = APIRouter(responses=ERRORS)
KeyPath = Annotated[params.Key, Path(alias="Key", description="The secret key; up to 100 characters.")]
DevicePath = Annotated[params.DeviceReference, Path(alias="DeviceSid",
                                                    description="The device SID or unique name.")]
KeyForm = Annotated[params.Key, Form(alias="Key", description="The secret key; up to 100 characters.")]
ValueForm = Annotated[params.Value, Form(alias="Value",
                                         description="The secret value; up to 4096 characters.")]
ACCOUNT_TAG, DEVICE_TAG = "MicrovisorV1AccountSecret", "MicrovisorV1DeviceSecret"


@router.get("/v1/Secrets", operation_id="ListAccountSecret", tags=[ACCOUNT_TAG],
            response_model=schemas.ListAccountSecretResponse)
def list_account_secrets(request: Request, service: ServiceDep, caller: CurrentCaller,
                         page: PageParams) -> dict:
    """Retrieve a list of all Secrets for an Account."""
    with service.database.transaction() as session:
        found = paging.fetch(session, variables.statement(Secret, caller.account_id, None), Secret.id, page)
        items = [resources.secret(base_url(request), row) for row in found.rows]
    return paging.envelope(request, "secrets", items, found, page)


@router.post("/v1/Secrets", operation_id="CreateAccountSecret", tags=[ACCOUNT_TAG], status_code=201,
             response_model=schemas.AccountSecret)
def create_account_secret(request: Request, service: ServiceDep, caller: CurrentCaller, key: KeyForm,
                          value: ValueForm) -> dict:
    """Create a secret for an Account."""
    with service.database.transaction() as session:
        row = variables.create_secret(session, service.secrets, caller.account_id, None, key, value)
        return resources.secret(base_url(request), row)


@router.get("/v1/Secrets/{Key}", operation_id="FetchAccountSecret", tags=[ACCOUNT_TAG],
            response_model=schemas.AccountSecret)
def fetch_account_secret(request: Request, service: ServiceDep, caller: CurrentCaller, key: KeyPath) -> dict:
    """Retrieve a Secret for an Account."""
    with service.database.transaction() as session:
        row = variables.find(session, Secret, caller.account_id, None, key)
        return resources.secret(base_url(request), row)


@router.post("/v1/Secrets/{Key}", operation_id="UpdateAccountSecret", tags=[ACCOUNT_TAG],
             response_model=schemas.AccountSecret)
def update_account_secret(request: Request, service: ServiceDep, caller: CurrentCaller, key: KeyPath,
                          value: ValueForm) -> dict:
    """Update a secret for an Account."""
    with service.database.transaction() as session:
        row = variables.find(session, Secret, caller.account_id, None, key)
        return resources.secret(base_url(request), variables.update_secret(service.secrets, row, value))


@router.delete("/v1/Secrets/{Key}", operation_id="DeleteAccountSecret", tags=[ACCOUNT_TAG], status_code=204)
def delete_account_secret(service: ServiceDep, caller: CurrentCaller, key: KeyPath) -> Response:
    """Delete a secret for an Account."""
    with service.database.transaction() as session:
        variables.delete(session, variables.find(session, Secret, caller.account_id, None, key))
    return Response(status_code=204)


@router.get("/v1/Devices/{DeviceSid}/Secrets", operation_id="ListDeviceSecret", tags=[DEVICE_TAG],
            response_model=schemas.ListDeviceSecretResponse)
def list_device_secrets(request: Request, service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
                        page: PageParams) -> dict:
    """Retrieve a list of all Secrets for a Device."""
    with service.database.transaction() as session:
        device = find_device(session, caller.account_id, device_sid)
        found = paging.fetch(session, variables.statement(Secret, caller.account_id, device), Secret.id, page)
        items = [resources.secret(base_url(request), row, device) for row in found.rows]
    return paging.envelope(request, "secrets", items, found, page)


@router.post("/v1/Devices/{DeviceSid}/Secrets", operation_id="CreateDeviceSecret", tags=[DEVICE_TAG],
             status_code=201, response_model=schemas.DeviceSecret)
def create_device_secret(request: Request, service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
                         key: KeyForm, value: ValueForm) -> dict:
    """Create a secret for a Microvisor Device."""
    with service.database.transaction() as session:
        device = find_device(session, caller.account_id, device_sid)
        row = variables.create_secret(session, service.secrets, caller.account_id, device, key, value)
        return resources.secret(base_url(request), row, device)


@router.get("/v1/Devices/{DeviceSid}/Secrets/{Key}", operation_id="FetchDeviceSecret", tags=[DEVICE_TAG],
            response_model=schemas.DeviceSecret)
def fetch_device_secret(request: Request, service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
                        key: KeyPath) -> dict:
    """Retrieve a Secret for a Device."""
    with service.database.transaction() as session:
        device = find_device(session, caller.account_id, device_sid)
        row = variables.find(session, Secret, caller.account_id, device, key)
        return resources.secret(base_url(request), row, device)


@router.post("/v1/Devices/{DeviceSid}/Secrets/{Key}", operation_id="UpdateDeviceSecret", tags=[DEVICE_TAG],
             response_model=schemas.DeviceSecret)
def update_device_secret(request: Request, service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
                         key: KeyPath, value: ValueForm) -> dict:
    """Update a secret for a Microvisor Device."""
    with service.database.transaction() as session:
        device = find_device(session, caller.account_id, device_sid)
        row = variables.find(session, Secret, caller.account_id, device, key)
        row = variables.update_secret(service.secrets, row, value)
        return resources.secret(base_url(request), row, device)


@router.delete("/v1/Devices/{DeviceSid}/Secrets/{Key}", operation_id="DeleteDeviceSecret", tags=[DEVICE_TAG],
               status_code=204)
def delete_device_secret(service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
                         key: KeyPath) -> Response:
    """Delete a secret for a Microvisor Device."""
    with service.database.transaction() as session:
        device = find_device(session, caller.account_id, device_sid)
        variables.delete(session, variables.find(session, Secret, caller.account_id, device, key))
    return Response(status_code=204)
