"""How the CLI shows a device's events: virtual timestamps, logs, UART, traces, crash records."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.text import Text

from . import params

if TYPE_CHECKING:  # the device's modules load with the commands that run one, not for --help
    from ..device.bus import DeviceEvent

TRACE_SOURCES = ("gpio", "uart", "irq")
EXIT_USAGE = 2

# No markup: what the consoles print holds paths, names and messages the user or the service chose, and
# "[/x]" in one must be shown as it is, not read as a style (which raised MarkupError). Styles are given
# as rich Text instead.
err = Console(stderr=True, highlight=False, markup=False)
out = Console(highlight=False, soft_wrap=True, markup=False)


def sentence(message: str) -> str:
    """The message as one sentence: on one line, ending with a full stop."""
    text = " ".join(message.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print one clear sentence on stderr; raise the returned Exit."""
    err.print(Text.assemble(("error:", "red"), " ", sentence(message)), soft_wrap=True)
    return typer.Exit(code)


class Cli(typer.Typer):
    """The root command. Typer's own usage errors (an unknown option, a value its type refuses) are
    shown like every other error: one sentence on stderr, exit 2; no answer to a prompt, exit 1."""

    def __init__(self, **kwargs: Any) -> None:
        """A Typer whose root group parses options with their ParamType alone (params.Group)."""
        kwargs.setdefault("cls", params.Group)
        super().__init__(**kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if "standalone_mode" in kwargs:
            return super().__call__(*args, **kwargs)
        try:
            result = super().__call__(*args, standalone_mode=False, **kwargs)
        except typer.TyperException as exc:
            if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
                fail(exc.format_message())
            raise SystemExit(getattr(exc, "exit_code", EXIT_USAGE)) from None
        except typer.Abort:
            fail("aborted.", 1)
            raise SystemExit(1) from None
        raise SystemExit(result if isinstance(result, int) else 0)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def stamp(time_ns: int) -> str:
    from ..device.clock import NS_PER_S

    return f"[{time_ns / NS_PER_S:12.6f}]"


def describe(event: DeviceEvent, trace: set[str]) -> str | None:
    """One output line for an event, or None when it is not shown."""
    data = event.data
    if event.source == "log" and event.kind == "line":
        return f"{stamp(event.time_ns)} {data['text']}"
    if event.source == "uart" and event.kind == "line":
        return f"{stamp(event.time_ns)} {data.get('port', 'uart')}: {data['text']}"
    if event.source == "uart" and event.kind == "tx" and "uart" in trace:
        return f"{stamp(event.time_ns)} trace uart {data.get('port', '')} tx {data['data']!r}"
    if event.source == "gpio" and event.kind == "pin" and "gpio" in trace:
        return f"{stamp(event.time_ns)} trace gpio P{data['port']}{data['pin']} = {data['level']}"
    if event.source == "irq" and "irq" in trace:
        if event.kind == "enter":
            return f"{stamp(event.time_ns)} trace irq enter {data['name']}"
        return f"{stamp(event.time_ns)} trace irq exit 0x{data['exc_return']:08x}"
    if event.source == "kernel" and event.kind == "crash-report":
        return f"{stamp(event.time_ns)} microvisor: application crashed ({data['summary']}); report stored"
    if event.source == "kernel" and event.kind == "restart":
        return f"{stamp(event.time_ns)} microvisor: restarting the application in {data['after_ms']} ms"
    if event.source == "kernel" and event.kind == "deep-sleep":
        return f"{stamp(event.time_ns)} microvisor: deep sleep ({data['mode']})"
    if event.source == "kernel" and event.kind == "testing-complete":
        return f"{stamp(event.time_ns)} microvisor: testing complete, result {data['result']}"
    if event.source == "kernel" and event.kind == "unavailable":
        return f"{stamp(event.time_ns)} microvisor: {data['call']} is not available yet"
    if event.source == "update":
        return _update_line(event)
    if event.source == "power" and event.kind == "reset" and data.get("reason") != "power-on":
        return f"{stamp(event.time_ns)} microvisor: application restarted ({data['reason']})"
    return None


def _update_line(event: DeviceEvent) -> str | None:
    data = event.data
    name = str(data.get("manifest_hash") or "?")[:16]
    if event.kind == "fetching":
        patches = f", {data['patches']} as patches" if data.get("patches") else ""
        text = (f"update {name}…: fetching {data['layers']} of {data['of']} layers ({data['bytes']} bytes"
                f"{patches}, {data['chunks']} chunks, {data['stored']} stored already)")
    elif event.kind == "downloaded":
        text = f"update {name}… staged; restart within {data['politeness_s']} s"
    elif event.kind == "applying":
        text = f"update {name}…: restarting to apply it"
    elif event.kind == "failed":
        text = f"update {name}… failed: {data['message']}"
    else:
        return None
    return f"{stamp(event.time_ns)} microvisor: {text}"


class Printer:
    """Writes event lines to standard output as they happen and watches for the --until text."""

    def __init__(self, trace: set[str], until: str | None, on_until):
        self.trace = trace
        self.until = until
        self.on_until = on_until
        self.seen_until = False

    def __call__(self, event: DeviceEvent) -> None:
        line = describe(event, self.trace)
        if line is None:
            return
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if self.until and not self.seen_until and event.source in ("log", "uart") \
                and self.until in line:
            self.seen_until = True
            self.on_until()
