"""The `microvisor` command: a thin layer over the device, kernel and (later) cloud packages."""

from __future__ import annotations

import typer

from . import (
    accounts_cmd,
    apps_cmd,
    console_cmd,
    crashes_cmd,
    debug_cmd,
    deploy_cmd,
    deployments_cmd,
    device_cmd,
    factory_cmd,
    kernel_cmd,
    keys_cmd,
    platform_cmd,
    server_cmd,
    service_cmds,
)
from .output import Cli

app = Cli(  # usage errors as one sentence, like every other error
    help="Microvisor: bundle applications, make platforms, kernels and virtual STM32U585 devices, run them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(platform_cmd.app, name="platform")
app.add_typer(kernel_cmd.app, name="kernel")
app.add_typer(apps_cmd.app, name="apps")
app.add_typer(device_cmd.app, name="device")
app.add_typer(service_cmds.devices, name="devices")
app.add_typer(service_cmds.logs, name="logs")
app.add_typer(service_cmds.configs, name="configs")
app.add_typer(service_cmds.secrets, name="secrets")
app.add_typer(factory_cmd.app, name="factory")
app.add_typer(crashes_cmd.app, name="crashes")
app.add_typer(deployments_cmd.app, name="deployments")
app.command("login")(service_cmds.login)
app.command("deploy")(deploy_cmd.deploy)
app.command("console")(console_cmd.console)
service_cmds.devices.command("debug")(debug_cmd.debug)
for name in ("create", "list", "fetch", "delete"):
    apps_cmd.app.command(name)(getattr(service_cmds, f"apps_{name}"))
server = typer.Typer(add_completion=False)
server.callback(invoke_without_command=True)(server_cmd.server)
server.add_typer(accounts_cmd.app, name="accounts")
app.add_typer(server, name="server")


if __name__ == "__main__":
    app()
