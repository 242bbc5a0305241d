"""`microvisor deployments …`: roll an app out to devices in stages that halt themselves on crashes."""

from __future__ import annotations

import time

import typer

from . import params
from .output import err, fail, out, print_json

app = typer.Typer(help="Staged rollouts: an app deployed to 1%, 10%, 50%, 100% of the devices, each stage "
                       "after the last has run it healthy for a soak time; halted by itself when too many "
                       "devices crash on it.", no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON.")
DEPLOYMENT_SID = params.Pattern(r"DP[0-9a-f]{32}", "a deployment SID", "DP and 32 hex digits", "SID")
FINISHED = ("completed", "halted", "rolled-back")
LIST_COLUMNS = [("sid", "sid"), ("app", "app_sid"), ("status", "status"), ("stage", "stage_text"),
                ("updated", "updated_text"), ("crash rate", "crash_text"), ("created", "date_created")]
DEVICE_COLUMNS = [("device", "device_sid"), ("stage", "stage_text"), ("state", "state"),
                  ("running it since", "date_updated")]  # --json adds when targeted, the app to roll back to


class Stages(params.ParamType):
    """Cumulative percentages, rising, ending at 100."""

    metavar = "P,P,…,100"

    def __init__(self) -> None:
        super().__init__("stages: rising whole percentages separated by commas, ending at 100",
                         "cumulative percentages of the devices, such as 1,10,50,100")

    def check(self, text: str) -> str:
        from ..common.rollout_stages import parse_stages

        try:
            return ",".join(map(str, parse_stages(text)))
        except ValueError as exc:
            raise ValueError(f"{exc}.") from None


class Names(params.ParamType):
    """Device names or SIDs separated by commas."""

    kind = "name"
    metavar = "DEVICE[,DEVICE…]"

    def __init__(self) -> None:
        super().__init__("device SIDs or unique names separated by commas")

    def check(self, text: str) -> list[str]:
        return [params.NAME.check(part.strip()) for part in text.split(",")]


RATE = params.Pattern(r"0(\.[0-9]{1,6})?|1(\.0{1,6})?|\.[0-9]{1,6}", "a share of the devices",
                      "a decimal from 0 to 1, such as 0.05", "RATE")
SOAK = params.Integer(0, 30 * 86400, meaning="a number of seconds")
POLITENESS = params.Integer(0, params.UINT32_MAX, meaning="a number of seconds")


@app.command("create")
def deployments_create(
    app_name: str = params.argument(params.NAME, metavar="APP", help="The app (SID or unique name)."),
    devices: list[str] | None = params.option(None, "--devices", type=Names(),
                                              help="The devices, in the order they are rolled out "
                                                   "(repeat the option or separate them with commas)."),
    every_device: bool = typer.Option(False, "--all", help="Every device of the account, in a random order."),
    stages: str = params.option("1,10,50,100", "--stages", type=Stages()),
    halt_on_crash_rate: str = params.option("0.05", "--halt-on-crash-rate", type=RATE,
                                            help="Halt when more than this share of the devices that ran the "
                                                 "app crashed on it."),
    soak: int = params.option(300, "--soak", type=SOAK, metavar="SECONDS",
                              help="How long a stage's devices run the app, healthy, before the next stage."),
    politeness: int | None = params.option(None, "--politeness", type=POLITENESS, metavar="SECONDS",
                                           help="The longest a device waits, once it has the app, before "
                                                "restarting into it (caps the app's own politeness time)."),
    forced: bool = typer.Option(False, "--forced", help="Devices restart into the app as soon as they have "
                                                        "it."),
    wait: bool = typer.Option(False, "--wait", help="Follow the rollout until it completes (exit 0), halts "
                                                    "or is rolled back (exit 1)."),
    as_json: bool = JSON,
) -> None:
    """Roll an app out to devices in stages; the first stage's devices are targeted at once."""
    from .credentials import client
    from .service_cmds import _call

    named = [sid for group in devices or [] for sid in group]
    if bool(named) == every_device:
        raise fail("name the devices with --devices or deploy to every device with --all (one of the two).")
    if forced and politeness is not None:
        raise fail("--forced restarts devices at once; it takes no --politeness.")
    form = {"App": app_name, "Devices": named or None, "All": every_device or None, "Stages": stages,
            "HaltOnCrashRate": halt_on_crash_rate, "SoakSeconds": soak, "Politeness": politeness,
            "Forced": forced or None}
    with client() as api:
        deployment = _call(api.post, "/v1/Deployments", form)
        if wait:
            deployment = _follow(api, deployment, quiet=as_json)
    _show(deployment, as_json)
    if deployment["status"] in ("halted", "rolled-back"):
        raise typer.Exit(1)


def _follow(api, deployment: dict, quiet: bool) -> dict:
    """Poll the deployment, with a progress bar of the devices that run the app, until it is finished."""
    from rich.progress import BarColumn, Progress, TextColumn

    from ..common.api_client import api_path
    from .service_cmds import _call

    total = deployment["stages"][-1]["devices"]
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total} devices run it"), console=err, transient=True,
                  disable=quiet) as progress:
        task = progress.add_task("rolling out", total=total)
        while deployment["status"] not in FINISHED:
            time.sleep(1)
            deployment = _call(api.get, api_path("v1", "Deployments", deployment["sid"]))
            progress.update(task, completed=deployment["devices"]["updated"],
                            description=f"stage {_stage_text(deployment)}, {deployment['status']}")
    return deployment


@app.command("list")
def deployments_list(
    status: str | None = params.option(None, "--status", type=params.Choice(
        ("active", "paused", "halted", "completed", "rolled-back")),
        help="Only deployments with this status."),
    as_json: bool = JSON,
) -> None:
    """List the account's deployments, oldest first."""
    from .credentials import client
    from .service_cmds import _call, _table

    with client() as api:
        rows = _call(lambda: list(api.pages("/v1/Deployments", "deployments", 100,
                                            **({"Status": status} if status else {}))))
    if as_json:
        print_json(rows)
        return
    _table([_summary(row) for row in rows], LIST_COLUMNS)


@app.command("show")
def deployments_show(
    sid: str = params.argument(DEPLOYMENT_SID, metavar="ID", help="The deployment's SID."),
    as_json: bool = JSON,
) -> None:
    """Show a deployment: its status, each stage's progress, the crash rate and every device's state."""
    from ..common.api_client import api_path
    from .credentials import client
    from .service_cmds import _call

    with client() as api:
        deployment = _call(api.get, api_path("v1", "Deployments", sid))
        path = api_path("v1", "Deployments", sid, "Devices")
        members = _call(lambda: list(api.pages(path, "devices", 100)))
    if as_json:
        print_json({**deployment, "device_states": members})
        return
    _show(deployment, False, members)


def _act(action: str):
    def command(sid: str = params.argument(DEPLOYMENT_SID, metavar="ID", help="The deployment's SID."),
                as_json: bool = JSON) -> None:
        from ..common.api_client import api_path
        from .credentials import client
        from .service_cmds import _call

        with client() as api:
            deployment = _call(api.post, api_path("v1", "Deployments", sid), {"Action": action})
        _show(deployment, as_json)

    return command


app.command("pause", help="Pause an active deployment: no further stage starts until it is resumed.")(
    _act("pause"))
app.command("resume", help="Resume a paused deployment.")(_act("resume"))
app.command("rollback", help="Roll a deployment back: every device it targeted is targeted at the app it "
                             "ran before; devices it had not reached are left alone.")(_act("rollback"))


def _stage_text(deployment: dict) -> str:
    stages = deployment["stages"]
    index = min(deployment["stage"], len(stages) - 1)
    return f"{index + 1} of {len(stages)} ({stages[index]['percent']}%)"


def _summary(deployment: dict) -> dict:
    total = deployment["stages"][-1]["devices"]
    return {**deployment, "stage_text": _stage_text(deployment),
            "updated_text": f"{deployment['devices']['updated']}/{total}",
            "crash_text": f"{deployment['crash_rate']:.0%} ({deployment['devices_crashed']}/"
                          f"{deployment['devices_ran']})"}


def _show(deployment: dict, as_json: bool, members: list[dict] | None = None) -> None:
    from rich.table import Table

    from .service_cmds import _table

    if as_json:
        print_json(deployment)
        return
    summary = _summary(deployment)
    out.print(f"deployment {deployment['sid']} of app {deployment['app_sid']}: {deployment['status']}, stage "
              f"{summary['stage_text']}")
    if deployment.get("halt_reason"):
        out.print(f"halted: {deployment['halt_reason']}")
    out.print(f"crash rate {summary['crash_text']} (halts above {deployment['halt_on_crash_rate']:.0%}); "
              f"soak {deployment['soak_seconds']} s")
    stages = Table(box=None)
    for column in ("stage", "reaches", "devices", "run it"):
        stages.add_column(column)
    for number, stage in enumerate(deployment["stages"], 1):
        mark = "▶ " if number - 1 == deployment["stage"] and deployment["status"] == "active" else ""
        stages.add_row(f"{mark}{number}", f"{stage['percent']}%", str(stage["devices"]),
                       str(stage["updated"]))
    out.print(stages)
    states = ", ".join(f"{count} {state}" for state, count in deployment["devices"].items() if count)
    out.print(f"devices: {states}")
    if members:
        _table([{**member, "stage_text": str(member["stage"] + 1)} for member in members], DEVICE_COLUMNS)
