"""The `microvisor` command: a thin layer over the device, kernel and (later) cloud packages."""

from __future__ import annotations

import typer

from . import device_cmd

app = typer.Typer(
    help="Microvisor: run applications on virtual STM32U585 devices, and manage them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(device_cmd.app, name="device")


if __name__ == "__main__":
    app()
