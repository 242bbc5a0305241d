"""The deployment pages: progress per stage, the pause/resume/rollback buttons, a deployment's devices."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ..errors import Conflict
from ..models import Deployment
from ..store import deployments
from .guard import Refusal, check_origin, check_token, console_router, read_form
from .markup import Markup, document, facts, join, link, post_button, table, tag, when
from .plots import stage_progress
from .sessions import Visitor

router = console_router()
MAX_LISTED = 100
LABELS = {deployments.PAUSE: "Pause", deployments.RESUME: "Resume", deployments.ROLLBACK: "Roll back"}


def _available(deployment: Deployment) -> list[str]:
    """The actions the deployment's status allows (store.deployments.act says the same)."""
    status = deployment.status
    found = []
    if status == deployments.ACTIVE:
        found.append(deployments.PAUSE)
    if status == deployments.PAUSED:
        found.append(deployments.RESUME)
    if status != deployments.ROLLED_BACK:
        found.append(deployments.ROLLBACK)
    return found


def _buttons(deployment: Deployment, csrf: str, back: str) -> Markup:
    question = f"Roll deployment {deployment.sid} back? Its devices go back to the app they ran before."
    buttons = [post_button(f"/deployments/{deployment.sid}/{action}", LABELS[action], csrf, {"back": back},
                           confirm=question if action == deployments.ROLLBACK else None,
                           class_=f"button {action}")
               for action in _available(deployment)]
    return tag("div", buttons, class_="actions") if buttons else Markup("")


def _status(deployment: Deployment) -> Markup:
    status = tag("span", deployment.status, class_=f"status {deployment.status}")
    if deployment.halt_reason:
        status += tag("span", f": {deployment.halt_reason}", class_="reason")
    return status


def _app(deployment: Deployment) -> str:
    app = deployment.app
    return f"{app.unique_name} ({app.sid})" if app.unique_name else app.sid


def _stage(deployment: Deployment, percentages: bool = False) -> str:
    stages = deployment.stages.split(",")
    where = f"{min(deployment.stage, len(stages) - 1) + 1} of {len(stages)}"
    return f"{where} (cumulative percentages of the devices: {deployment.stages})" if percentages else where


@router.get("/deployments")
def deployment_list(request: Request, visitor: Visitor) -> Response:
    with request.app.state.service.database.transaction() as session:
        found = list(session.scalars(deployments.deployments_statement(visitor.account_id)
                                     .order_by(Deployment.id.desc()).limit(MAX_LISTED)))
        rows = []
        for deployment in found:
            progress = deployments.progress(session, deployment)
            total = sum(progress.states.values())
            states = ", ".join(f"{count} {state}" for state, count in progress.states.items() if count)
            rows.append([link(f"/deployments/{deployment.sid}", deployment.sid, class_="sid"),
                         _app(deployment), _status(deployment), _stage(deployment),
                         stage_progress(progress.stages, total), states or "no devices",
                         _buttons(deployment, visitor.csrf, "list")])
    listed = table(("Deployment", "App", "Status", "Stage", "Progress", "Devices", ""), rows,
                   "No deployments yet: POST /v1/Deployments (or the CLI) starts one.",
                   class_="list", id="deployments")
    note = tag("p", f"The newest {MAX_LISTED}.", class_="note")
    return HTMLResponse(document("Deployments", join((listed, note)), page="deployments",
                                 account_sid=visitor.account_sid, csrf=visitor.csrf))


def _sid(value: str) -> str:
    if len(value) > 64:
        raise Refusal(404, "There is no such deployment in this account.")
    return value


@router.get("/deployments/{sid}")
def deployment_page(request: Request, visitor: Visitor, sid: str) -> Response:
    with request.app.state.service.database.transaction() as session:
        deployment = deployments.find_deployment(session, visitor.account_id, _sid(sid))
        progress = deployments.progress(session, deployment)
        health = progress.health
        members = deployments.rows(session, deployment)
        device_rows = [[row.position + 1,
                        link(f"/devices/{row.device.sid}", row.device.unique_name or row.device.sid,
                             class_="sid"),
                        row.stage + 1, tag("span", row.state, class_=f"state {row.state}"),
                        when(row.date_targeted, "not yet"), when(row.date_updated, "not yet")]
                       for row in members]
        details = facts([
            ("App", _app(deployment)), ("Status", _status(deployment)),
            ("Stage", _stage(deployment, percentages=True)),
            ("Halts when", f"more than {deployment.halt_on_crash_rate:.0%} of the devices that ran the app "
                           "crashed on it, or an install failed"),
            ("Soak", f"{deployment.soak_s} s a stage"),
            ("Health", f"{health.ran} ran the app, {health.crashed} crashed on it ({health.crash_rate:.0%}), "
                       f"{health.failed} failed to install it"),
            ("Created", when(deployment.date_created)), ("Updated", when(deployment.date_updated))])
        total = sum(progress.states.values())
        progress_plot = stage_progress(progress.stages, total)
        buttons = _buttons(deployment, visitor.csrf, "detail")
    body = join((
        tag("section", details, buttons),
        tag("section", tag("h2", "Progress per stage"), progress_plot),
        tag("section", tag("h2", "Devices"),
            table(("#", "Device", "Stage", "State", "Targeted", "Running the app since"), device_rows,
                  "This deployment has no devices.", class_="list", id="deployment-devices"))))
    return HTMLResponse(document(f"Deployment {deployment.sid}", body, page="deployment",
                                 account_sid=visitor.account_sid, csrf=visitor.csrf))


@router.post("/deployments/{sid}/{action}")
async def deployment_action(request: Request, visitor: Visitor, sid: str, action: str) -> Response:
    """Pause, resume or roll back (store.deployments.act); a status that does not allow it says why."""
    check_origin(request)
    form = await read_form(request, {"back": 10})
    check_token(request, form, visitor.csrf)
    if action not in deployments.ACTIONS:
        raise Refusal(404, "There is no such action.")
    service = request.app.state.service

    def act() -> str:
        with service.database.transaction() as session:
            deployment = deployments.find_deployment(session, visitor.account_id, _sid(sid), for_change=True)
            deployments.act(session, deployment, action)
            return deployment.sid

    try:
        found = await run_in_threadpool(act)
    except Conflict as exc:
        raise Refusal(409, exc.message, (f"/deployments/{sid}", "Back to the deployment")) from None
    return RedirectResponse("/deployments" if form.get("back") == "list" else f"/deployments/{found}",
                            status_code=303)
