"""Configs of the account (/v1/Configs) and of a device (/v1/Devices/{DeviceSid}/Configs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request, Response

from .. import paging, params, resources, schemas
from ..auth import CurrentCaller
from ..models import Config
from ..paging import PageParams
from ..store import variables
from ..store.devices import find_device
from .context import ERRORS, ServiceDep, base_url

router = APIRouter(responses=ERRORS)
KeyPath = Annotated[params.Key, Path(alias="Key", description="The config key; up to 100 characters.")]
DevicePath = Annotated[params.DeviceReference, Path(alias="DeviceSid",
                                                    description="The device SID or unique name.")]
KeyForm = Annotated[params.Key, Form(alias="Key", description="The config key; up to 100 characters.")]
ValueForm = Annotated[params.Value, Form(alias="Value",
                                         description="The config value; up to 4096 characters.")]
ACCOUNT_TAG, DEVICE_TAG = "MicrovisorV1AccountConfig", "MicrovisorV1DeviceConfig"


@router.get("/v1/Configs", operation_id="ListAccountConfig", tags=[ACCOUNT_TAG],
            response_model=schemas.ListAccountConfigResponse)
def list_account_configs(request: Request, service: ServiceDep, caller: CurrentCaller,
                         page: PageParams) -> dict:
    """Retrieve a list of all Configs for an Account."""
    with service.database.transaction() as session:
        found = paging.fetch(session, variables.statement(Config, caller.account_id, None), Config.id, page)
        items = [resources.config(base_url(request), row) for row in found.rows]
    return paging.envelope(request, "configs", items, found, page)


@router.post("/v1/Configs", operation_id="CreateAccountConfig", tags=[ACCOUNT_TAG], status_code=201,
             response_model=schemas.AccountConfig)
def create_account_config(request: Request, service: ServiceDep, caller: CurrentCaller, key: KeyForm,
                          value: ValueForm) -> dict:
    """Create a config for an Account."""
    with service.database.transaction() as session:
        row = variables.create_config(session, caller.account_id, None, key, value)
        return resources.config(base_url(request), row)


@router.get("/v1/Configs/{Key}", operation_id="FetchAccountConfig", tags=[ACCOUNT_TAG],
            response_model=schemas.AccountConfig)
def fetch_account_config(request: Request, service: ServiceDep, caller: CurrentCaller, key: KeyPath) -> dict:
    """Retrieve a Config for an Account."""
    with service.database.transaction() as session:
        row = variables.find(session, Config, caller.account_id, None, key)
        return resources.config(base_url(request), row)


@router.post("/v1/Configs/{Key}", operation_id="UpdateAccountConfig", tags=[ACCOUNT_TAG],
             response_model=schemas.AccountConfig)
def update_account_config(request: Request, service: ServiceDep, caller: CurrentCaller, key: KeyPath,
                          value: ValueForm) -> dict:
    """Update a config for an Account."""
    with service.database.transaction() as session:
        row = variables.find(session, Config, caller.account_id, None, key)
        return resources.config(base_url(request), variables.update_config(row, value))


@router.delete("/v1/Configs/{Key}", operation_id="DeleteAccountConfig", tags=[ACCOUNT_TAG], status_code=204)
def delete_account_config(service: ServiceDep, caller: CurrentCaller, key: KeyPath) -> Response:
    """Delete a config for an Account."""
    with service.database.transaction() as session:
        variables.delete(session, variables.find(session, Config, caller.account_id, None, key))
    return Response(status_code=204)


@router.get("/v1/Devices/{DeviceSid}/Configs", operation_id="ListDeviceConfig", tags=[DEVICE_TAG],
            response_model=schemas.ListDeviceConfigResponse)
def list_device_configs(request: Request, service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
                        page: PageParams) -> dict:
    """Retrieve a list of all Configs for a Device."""
    with service.database.transaction() as session:
        device = find_device(session, caller.account_id, device_sid)
        found = paging.fetch(session, variables.statement(Config, caller.account_id, device), Config.id, page)
        items = [resources.config(base_url(request), row, device) for row in found.rows]
    return paging.envelope(request, "configs", items, found, page)


@router.post("/v1/Devices/{DeviceSid}/Configs", operation_id="CreateDeviceConfig", tags=[DEVICE_TAG],
             status_code=201, response_model=schemas.DeviceConfig)
def create_device_config(request: Request, service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
                         key: KeyForm, value: ValueForm) -> dict:
    """Create a config for a Microvisor Device."""
    with service.database.transaction() as session:
        device = find_device(session, caller.account_id, device_sid)
        row = variables.create_config(session, caller.account_id, device, key, value)
        return resources.config(base_url(request), row, device)


@router.get("/v1/Devices/{DeviceSid}/Configs/{Key}", operation_id="FetchDeviceConfig", tags=[DEVICE_TAG],
            response_model=schemas.DeviceConfig)
def fetch_device_config(request: Request, service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
                        key: KeyPath) -> dict:
    """Retrieve a Config for a Device."""
    with service.database.transaction() as session:
        device = find_device(session, caller.account_id, device_sid)
        row = variables.find(session, Config, caller.account_id, device, key)
        return resources.config(base_url(request), row, device)


@router.post("/v1/Devices/{DeviceSid}/Configs/{Key}", operation_id="UpdateDeviceConfig", tags=[DEVICE_TAG],
             response_model=schemas.DeviceConfig)
def update_device_config(request: Request, service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
                         key: KeyPath, value: ValueForm) -> dict:
    """Update a config for a Microvisor Device."""
    with service.database.transaction() as session:
        device = find_device(session, caller.account_id, device_sid)
        row = variables.find(session, Config, caller.account_id, device, key)
        return resources.config(base_url(request), variables.update_config(row, value), device)


@router.delete("/v1/Devices/{DeviceSid}/Configs/{Key}", operation_id="DeleteDeviceConfig", tags=[DEVICE_TAG],
               status_code=204)
def delete_device_config(service: ServiceDep, caller: CurrentCaller, device_sid: DevicePath,
                         key: KeyPath) -> Response:
    """Delete a config for a Microvisor Device."""
    with service.database.transaction() as session:
        device = find_device(session, caller.account_id, device_sid)
        variables.delete(session, variables.find(session, Config, caller.account_id, device, key))
    return Response(status_code=204)
