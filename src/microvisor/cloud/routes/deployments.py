"""This service's addition: deployments, an app rolled out to devices in stages that halt themselves."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...common.rollout_stages import parse_stages
from .. import paging, params, resources, schemas
from ..auth import CurrentCaller
from ..errors import InvalidRequest, NotFound
from ..models import App, Deployment, DeploymentDevice
from ..paging import PageParams
from ..store import deployments
from ..store.apps import target_app
from ..store.devices import find_device
from .context import ERRORS, ServiceDep, base_url

router = APIRouter(responses=ERRORS)
TAG, DEVICE_TAG = "MicrovisorV1Deployment", "MicrovisorV1DeploymentDevice"
MAX_NAMED_DEVICES = 1000  # a larger fleet is deployed to with All
SidPath = Annotated[params.DeploymentSid, Path(alias="Sid", description="The deployment SID.")]


def _render(request: Request, session: Session, account_sid: str, row: Deployment) -> dict:
    return resources.deployment(base_url(request), account_sid, row, deployments.progress(session, row))


@router.post("/v1/Deployments", operation_id="CreateDeployment", tags=[TAG], status_code=201,
             response_model=schemas.Deployment)
def create_deployment(
    request: Request, service: ServiceDep, caller: CurrentCaller,
    app: Annotated[params.AppReference, Form(alias="App", description="The app (SID or unique name).")],
    devices: Annotated[list[params.DeviceReference] | None,
                       Form(alias="Devices", description="The devices (SIDs or unique names), in the order "
                                                         "they are rolled out; or All.")] = None,
    every_device: Annotated[bool, Form(alias="All", description="Every device of the account, in a random "
                                                                "order.")] = False,
    stages: Annotated[params.Stages, Form(alias="Stages", description="Cumulative percentages of the "
                                          "devices, one stage each.")] = "1,10,50,100",
    halt_on_crash_rate: Annotated[params.Fraction, Form(alias="HaltOnCrashRate", description="Halt when "
                                  "more than this share of the devices that ran the app crashed on "
                                  "it.")] = "0.05",
    soak: Annotated[params.SoakSeconds, Form(alias="SoakSeconds", description="How long a stage's devices "
                                             "run the app, healthy, before the next stage starts.")]
    = deployments.DEFAULT_SOAK_S,
    politeness: Annotated[params.PolitenessSeconds | None, Form(alias="Politeness", description="The "
                          "longest a device waits, once it has the app, before it restarts into it (caps "
                          "the app's own maximum politeness time).")] = None,
    forced: Annotated[bool, Form(alias="Forced", description="Devices restart into the app as soon as "
                                                             "they have it.")] = False,
) -> dict:
    """Roll an app out to devices in stages; the first stage's devices are targeted at once."""
    if bool(devices) == every_device:
        raise InvalidRequest("Name the devices (Devices) or ask for every device (All=true), not both.")
    if devices and len(devices) > MAX_NAMED_DEVICES:
        raise InvalidRequest(f"Name at most {MAX_NAMED_DEVICES} devices; deploy to a larger fleet with "
                             f"All=true.")
    if forced and politeness is not None:
        raise InvalidRequest("Forced restarts at once; it takes no Politeness.")
    rollout = deployments.Rollout(parse_stages(stages), float(halt_on_crash_rate), soak,
                                  0 if forced else politeness)
    with service.database.transaction() as session:
        chosen = target_app(session, caller.account_id, app)
        named = None
        if devices:
            named = []
            for reference in devices:
                try:
                    named.append(find_device(session, caller.account_id, reference))
                except NotFound:
                    raise InvalidRequest(f"Device {reference!r} is not a device of this account.") from None
        row = deployments.create(session, caller.account_id, chosen, named, rollout)
        return _render(request, session, caller.account_sid, row)


@router.get("/v1/Deployments", operation_id="ListDeployment", tags=[TAG],
            response_model=schemas.ListDeploymentResponse)
def list_deployments(
    request: Request, service: ServiceDep, caller: CurrentCaller, page: PageParams,
    status: Annotated[params.DeploymentStatus | None, Query(alias="Status", description="Only deployments "
                                                            "with this status.")] = None,
) -> dict:
    """The account's deployments, oldest first."""
    with service.database.transaction() as session:
        found = paging.fetch(session, deployments.deployments_statement(caller.account_id, status),
                             Deployment.id, page)
        items = [_render(request, session, caller.account_sid, row) for row in found.rows]
    return paging.envelope(request, "deployments", items, found, page, {"Status": status} if status else None)


@router.get("/v1/Deployments/{Sid}", operation_id="FetchDeployment", tags=[TAG],
            response_model=schemas.Deployment)
def fetch_deployment(request: Request, service: ServiceDep, caller: CurrentCaller, sid: SidPath) -> dict:
    """One deployment and its progress."""
    with service.database.transaction() as session:
        row = deployments.find_deployment(session, caller.account_id, sid)
        return _render(request, session, caller.account_sid, row)


@router.post("/v1/Deployments/{Sid}", operation_id="UpdateDeployment", tags=[TAG],
             response_model=schemas.Deployment)
def update_deployment(
    request: Request, service: ServiceDep, caller: CurrentCaller, sid: SidPath,
    action: Annotated[params.DeploymentAction, Form(alias="Action", description="pause (an active "
                      "deployment), resume (a paused one) or rollback (target every device it targeted at "
                      "the app it ran before).")],
) -> dict:
    """Pause, resume or roll back a deployment; 409 when its status does not allow it."""
    with service.database.transaction() as session:
        row = deployments.find_deployment(session, caller.account_id, sid, for_change=True)
        deployments.act(session, row, action)
        return _render(request, session, caller.account_sid, row)


@router.get("/v1/Deployments/{Sid}/Devices", operation_id="ListDeploymentDevice", tags=[DEVICE_TAG],
            response_model=schemas.ListDeploymentDeviceResponse)
def list_deployment_devices(request: Request, service: ServiceDep, caller: CurrentCaller, sid: SidPath,
                            page: PageParams) -> dict:
    """A deployment's devices in the order they are rolled out, with their stage and state."""
    with service.database.transaction() as session:
        row = deployments.find_deployment(session, caller.account_id, sid)
        found = paging.fetch(session, deployments.devices_statement(row), DeploymentDevice.position, page)
        previous = {app_id for app_id in (member.previous_app_id for member in found.rows) if app_id}
        sids = dict(session.execute(select(App.id, App.sid).where(App.id.in_(previous))).all())
        items = [resources.deployment_device(member, sids.get(member.previous_app_id))
                 for member in found.rows]
    return paging.envelope(request, "devices", items, found, page)
