"""Deployments: an app rolled out to an account's devices in stages, advanced, halted and rolled back.

A deployment orders its devices and cuts them into cumulative stages (percentages of the devices,
"1,10,50,100"). `advance` is one step of the rollout, run by every server process (cloud/rollouts.py)
and at once on create and resume: it notes which targeted devices run the app, which failed to install
it and which a developer retargeted themselves (they leave the deployment); it halts the deployment
when an install failed or when the share of devices that crashed on the new version passes the
threshold; and when every device of the current stage runs the app and has done so for the soak time,
it targets the next stage's devices (or completes). Rollback targets each targeted device back at the
app it ran before. A device belongs to the newest deployment that names it.
"""

from __future__ import annotations

import datetime
import secrets
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from ...common.rollout_stages import DEFAULT_STAGES, stage_bounds
from ...common.sids import is_sid, new_sid
from ..clock import utc_now
from ..errors import Conflict, InvalidRequest, NotFound
from ..models import App, CrashReport, Deployment, DeploymentDevice, Device
from .apps import app_sids_by_hash
from .devices import (ERROR, FAILED, IN_DEPLOYMENT, LEFT, ROLLED_BACK, TARGETED, UPDATED, WAITING,
                      set_target)

ACTIVE, PAUSED, HALTED, COMPLETED = "active", "paused", "halted", "completed"
UNFINISHED = (ACTIVE, PAUSED, HALTED)
PAUSE, RESUME, ROLLBACK = "pause", "resume", "rollback"
ACTIONS = (PAUSE, RESUME, ROLLBACK)
DEVICE_STATES = (WAITING, TARGETED, UPDATED, FAILED, LEFT, ROLLED_BACK)

DEFAULT_HALT_RATE = 0.05
DEFAULT_SOAK_S = 300
MAX_SOAK_S = 30 * 86400
MAX_POLITENESS_S = 0xFFFF_FFFF  # the manifest's maximum_politeness_time_sec is a uint32


@dataclass(frozen=True)
class Rollout:
    """How a deployment rolls out: its stages, when it halts, how long a stage soaks, how soon devices
    restart into the app (None: as the app's own politeness time says; 0: at once, forced)."""

    stages: tuple[int, ...] = DEFAULT_STAGES
    halt_on_crash_rate: float = DEFAULT_HALT_RATE
    soak_s: int = DEFAULT_SOAK_S
    politeness_s: int | None = None


def create(session: Session, account_id: int, app: App, devices: list[Device] | None, rollout: Rollout,
           now: datetime.datetime | None = None) -> Deployment:
    """A new deployment of `app` to these devices (None: every device of the account, in random order),
    its first stage targeted at once. The devices leave any earlier deployment."""
    now = now or utc_now()
    if devices is None:
        devices = list(session.scalars(select(Device).where(Device.account_id == account_id)
                                       .order_by(Device.id)))
        secrets.SystemRandom().shuffle(devices)
    if not devices:
        raise InvalidRequest("A deployment needs at least one device; this account has none to name.")
    if len({device.id for device in devices}) != len(devices):
        raise InvalidRequest("A deployment names each device once.")
    ids = [device.id for device in devices]
    session.execute(update(DeploymentDevice)
                    .where(DeploymentDevice.device_id.in_(ids), DeploymentDevice.state.in_(IN_DEPLOYMENT))
                    .values(state=LEFT))
    deployment = Deployment(sid=new_sid("DP"), account_id=account_id, app=app, status=ACTIVE,
                            stages=",".join(map(str, rollout.stages)), stage=0,
                            halt_on_crash_rate=rollout.halt_on_crash_rate, soak_s=rollout.soak_s,
                            politeness_s=rollout.politeness_s, date_created=now, date_updated=now)
    session.add(deployment)
    session.flush()
    previous = _running_apps(session, account_id, devices)
    bounds = stage_bounds(rollout.stages, len(devices))
    for position, device in enumerate(devices):
        stage = next(index for index, bound in enumerate(bounds) if position < bound)
        session.add(DeploymentDevice(deployment_id=deployment.id, device_id=device.id, position=position,
                                     stage=stage, previous_app_id=previous.get(device.id), state=WAITING))
    session.flush()
    _target_stage(session, deployment, now)
    advance(session, deployment, now)
    return deployment


def _running_apps(session: Session, account_id: int, devices: list[Device]) -> dict[int, int | None]:
    """Each device's app to roll back to: the account's app it runs, else the app it was targeted at."""
    by_hash = app_sids_by_hash(session, account_id, {d.reported_hash for d in devices if d.reported_hash})
    ids = dict(session.execute(select(App.sid, App.id).where(App.sid.in_(set(by_hash.values())))).all())
    return {device.id: ids.get(by_hash.get(device.reported_hash or ""), device.target_app_id)
            for device in devices}


def rows(session: Session, deployment: Deployment) -> list[DeploymentDevice]:
    return list(session.scalars(devices_statement(deployment).order_by(DeploymentDevice.position)))


def _target_stage(session: Session, deployment: Deployment, now: datetime.datetime) -> None:
    for row in rows(session, deployment):
        if row.state == WAITING and row.stage <= deployment.stage:
            set_target(session, row.device, deployment.app, now)
            row.state, row.date_targeted = TARGETED, now
    deployment.date_stage_done = None
    session.flush()


def advance(session: Session, deployment: Deployment, now: datetime.datetime | None = None) -> None:
    """One step of an active deployment: note the devices' progress, halt, or move to the next stage."""
    if deployment.status != ACTIVE:
        return
    now = now or utc_now()
    app, members = deployment.app, rows(session, deployment)
    for row in members:
        device = row.device
        if row.state in (TARGETED, UPDATED, FAILED) and device.target_app_id != app.id:
            row.state = LEFT
        elif row.state == TARGETED and device.reported_hash == app.manifest_hash:
            row.state, row.date_updated = UPDATED, now
        elif row.state == TARGETED and device.update_status == ERROR:
            row.state = FAILED
    health = _health(session, deployment, members)
    if health.failed:
        _halt(deployment, f"{health.failed} device(s) could not install the app", now)
    elif health.ran and health.crash_rate > deployment.halt_on_crash_rate:
        _halt(deployment, f"{health.crashed} of {health.ran} device(s) crashed on the new version "
                          f"({health.crash_rate:.0%}, more than {deployment.halt_on_crash_rate:.0%})", now)
    else:
        _next_stage(session, deployment, members, now)
    session.flush()


def _next_stage(session: Session, deployment: Deployment, members: list[DeploymentDevice],
                now: datetime.datetime) -> None:
    current = [row for row in members if row.stage <= deployment.stage and row.state != LEFT]
    if any(row.state != UPDATED for row in current):
        deployment.date_stage_done = None
        return
    if deployment.date_stage_done is None:
        deployment.date_stage_done = max((row.date_updated for row in current if row.date_updated),
                                         default=now)
    newest = [row for row in current if row.stage == deployment.stage]
    if newest and now - deployment.date_stage_done < datetime.timedelta(seconds=deployment.soak_s):
        return
    last = len(deployment.stages.split(",")) - 1
    if deployment.stage >= last:
        deployment.status, deployment.date_updated = COMPLETED, now
        return
    deployment.stage += 1
    deployment.date_updated = now
    _target_stage(session, deployment, now)


def _halt(deployment: Deployment, reason: str, now: datetime.datetime) -> None:
    deployment.status, deployment.halt_reason, deployment.date_updated = HALTED, reason[:500], now


@dataclass(frozen=True)
class Health:
    """How the new version does: devices that ran it, those of them that crashed on it, failed installs."""

    ran: int
    crashed: int
    failed: int

    @property
    def crash_rate(self) -> float:
        return self.crashed / self.ran if self.ran else 0.0


def _health(session: Session, deployment: Deployment, members: list[DeploymentDevice]) -> Health:
    """A crash counts when its report names the app's manifest hash and came after the device was targeted
    (the device ran the new version, whether or not a step had seen it running yet)."""
    targeted = {row.device_id: row.date_targeted for row in members if row.date_targeted is not None}
    crashed: set[int] = set()
    if targeted:
        last = session.execute(
            select(CrashReport.device_id, func.max(CrashReport.date_created))
            .where(CrashReport.device_id.in_(list(targeted)),
                   CrashReport.manifest_hash == deployment.app.manifest_hash)
            .group_by(CrashReport.device_id)).all()
        crashed = {device_id for device_id, when in last if when >= targeted[device_id]}
    ran = crashed | {row.device_id for row in members if row.date_updated is not None}
    return Health(len(ran), len(crashed), sum(1 for row in members if row.state == FAILED))


def health(session: Session, deployment: Deployment) -> Health:
    return _health(session, deployment, rows(session, deployment))


def act(session: Session, deployment: Deployment, action: str, now: datetime.datetime | None = None) -> None:
    """pause, resume or rollback; Conflict when the deployment's status does not allow it."""
    now = now or utc_now()
    status = deployment.status
    if action == PAUSE and status == ACTIVE:
        deployment.status = PAUSED
    elif action == RESUME and status == PAUSED:
        deployment.status = ACTIVE
        advance(session, deployment, now)
    elif action == ROLLBACK and status != ROLLED_BACK:
        _roll_back(session, deployment, now)
    else:
        raise Conflict(_refusal(deployment, action))
    deployment.date_updated = now
    session.flush()


def _refusal(deployment: Deployment, action: str) -> str:
    status = deployment.status
    if action == RESUME and status == HALTED:
        return (f"Deployment {deployment.sid} halted ({deployment.halt_reason}); roll it back, or create a "
                f"new deployment.")
    return f"Deployment {deployment.sid} is {status}; it cannot {action}."


def _roll_back(session: Session, deployment: Deployment, now: datetime.datetime) -> None:
    for row in rows(session, deployment):
        if row.state in (TARGETED, UPDATED, FAILED):
            if row.device.target_app_id == deployment.app_id:
                previous = session.get(App, row.previous_app_id) if row.previous_app_id else None
                set_target(session, row.device, previous, now)
            row.state = ROLLED_BACK
        elif row.state == WAITING:
            row.state = LEFT
    deployment.status = ROLLED_BACK


def deployments_statement(account_id: int, status: str | None = None) -> Select:
    statement = select(Deployment).where(Deployment.account_id == account_id)
    return statement if status is None else statement.where(Deployment.status == status)


def find_deployment(session: Session, account_id: int, sid: str, *, for_change: bool = False) -> Deployment:
    """The account's deployment, else NotFound; `for_change` locks its row for the transaction (so a pause
    or a rollback and a step of the rollout driver come one after the other)."""
    deployment = None
    if is_sid(sid, "DP"):
        statement = select(Deployment).where(Deployment.account_id == account_id, Deployment.sid == sid)
        if for_change:
            statement = statement.with_for_update(of=Deployment)
        deployment = session.scalar(statement)
    if deployment is None:
        raise NotFound(f"no deployment {sid} in this account")
    return deployment


def devices_statement(deployment: Deployment) -> Select:
    return select(DeploymentDevice).where(DeploymentDevice.deployment_id == deployment.id)


@dataclass(frozen=True)
class Progress:
    """A deployment at a glance: devices per state; per stage, how many it reaches and run the app."""

    states: dict[str, int]
    stages: list[dict[str, int]]
    health: Health


def progress(session: Session, deployment: Deployment) -> Progress:
    members = rows(session, deployment)
    states = Counter(row.state for row in members)
    stages = []
    for index, percent in enumerate(int(part) for part in deployment.stages.split(",")):
        reached = [row for row in members if row.stage <= index]
        stages.append({"percent": percent, "devices": len(reached),
                       "updated": sum(1 for row in reached if row.state == UPDATED)})
    return Progress({state: states.get(state, 0) for state in DEVICE_STATES}, stages,
                    _health(session, deployment, members))


def active_ids(session: Session) -> list[int]:
    """Every account's active deployments (what the rollout driver steps)."""
    return list(session.scalars(select(Deployment.id).where(Deployment.status == ACTIVE)))


def lock_active(session: Session, deployment_id: int) -> Deployment | None:
    """The deployment, locked for this transaction, if it is active and no other process holds it."""
    return session.scalar(select(Deployment)
                          .where(Deployment.id == deployment_id, Deployment.status == ACTIVE)
                          .with_for_update(skip_locked=True, of=Deployment))


def politeness_for(session: Session, device: Device) -> int | None:
    """The politeness cap of the deployment that targets this device at its target app, if any."""
    if device.target_app_id is None:
        return None
    return session.scalar(select(Deployment.politeness_s).join(DeploymentDevice)
                          .where(DeploymentDevice.device_id == device.id,
                                 DeploymentDevice.state.in_((TARGETED, UPDATED)),
                                 Deployment.app_id == device.target_app_id)
                          .order_by(Deployment.id.desc()).limit(1))
