"""`microvisor device …`: run firmware on a virtual device."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from rich.console import Console

from ..device.firmware import FirmwareError, load_firmware
from ..device.flash import FlashError
from ..device.machine import Device
from ..device.state import DeviceState, StateError
from ..kernel.microvisor import Microvisor
from .output import TRACE_SOURCES, Printer

app = typer.Typer(help="Virtual STM32U585 devices.", no_args_is_help=True)
err = Console(stderr=True, highlight=False)

EXIT_OK, EXIT_USAGE, EXIT_TIMEOUT, EXIT_CRASH = 0, 2, 3, 4


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def parse_trace(text: str | None) -> set[str]:
    if not text:
        return set()
    chosen = {part.strip() for part in text.split(",") if part.strip()}
    unknown = chosen - set(TRACE_SOURCES)
    if unknown:
        raise fail(f"unknown --trace source {', '.join(sorted(unknown))}; "
                   f"choose from {', '.join(TRACE_SOURCES)}.")
    return chosen


@app.command("run")
def run(
    firmware: Path = typer.Argument(..., help="Application ELF, or flat binary for 0x08000000."),
    state: Path | None = typer.Option(
        None, "--state", help="Device state directory (flash, QSPI, option bytes) kept across "
        "runs; created if missing. Without it the device is thrown away afterwards."),
    gdb: int | None = typer.Option(
        None, "--gdb", help="Serve the GDB remote protocol on 127.0.0.1:PORT; the CPU waits, "
        "halted at reset, for the debugger."),
    timeout: float | None = typer.Option(
        None, "--timeout", help="Stop after this many seconds of virtual time (exit 3)."),
    until: str | None = typer.Option(
        None, "--until", help="Stop with exit 0 when the application's output contains TEXT."),
    trace: str | None = typer.Option(
        None, "--trace", help="Also show device events: a comma list of gpio, uart, irq."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log the emulator's own steps."),
) -> None:
    """Run FIRMWARE on a virtual STM32U585 and print its output with virtual timestamps.

    Exit status: 0 when --until text appears, 3 on timeout, 4 when the application crashed
    (the crash record is printed), 2 for a firmware file that cannot run.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    sources = parse_trace(trace)
    if timeout is not None and timeout <= 0:
        raise fail("--timeout must be a positive number of seconds.")
    try:
        image = load_firmware(firmware)
    except FirmwareError as exc:
        raise fail(str(exc)) from None
    try:
        device_state = DeviceState.open(state)
    except (StateError, OSError) as exc:
        raise fail(f"cannot use state directory {state}: {exc}") from None
    device = Device(device_state)
    try:
        Microvisor(device)
        device.trace_irq = "irq" in sources
        printer = Printer(sources, until, lambda: device.stop("until"))
        device.events.subscribe(printer)
        try:
            device.load_firmware(image)
        except FlashError as exc:
            raise fail(f"cannot write {firmware} into the device's flash: {exc}") from None
        server = None
        if gdb is not None:
            from ..device.gdbstub import GdbServer

            try:
                server = GdbServer(device, gdb)
            except OSError as exc:
                raise fail(f"cannot listen for GDB on 127.0.0.1:{gdb}: {exc}") from None
            err.print(f"GDB: waiting on 127.0.0.1:{server.port} "
                      f"(target extended-remote 127.0.0.1:{server.port})")
        try:
            result = device.run(timeout_s=timeout, halt_first=server is not None)
        except KeyboardInterrupt:
            raise fail("interrupted.", 130) from None
        finally:
            if server is not None:
                server.close()
    finally:
        device.close()
        device_state.close()
    if result.reason == "crash" and result.crash is not None:
        sys.stderr.write(result.crash.format() + "\n")
        raise typer.Exit(EXIT_CRASH)
    if result.reason == "timeout":
        err.print(f"timeout: {timeout:g} s of virtual time passed"
                  + (f" without {until!r}" if until else ""))
        raise typer.Exit(EXIT_TIMEOUT)
    raise typer.Exit(EXIT_OK)
