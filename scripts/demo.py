"""`make demo`: a server, two devices, blinky v1 then v2 over the air, live logs, and the bytes v2 took."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"listening on (http://\S+)")
ACCOUNT = re.compile(r"Created account (AC[0-9a-f]{32}) with auth token (\S+) ")
DEVICE = re.compile(r"device (UV[0-9a-f]{32})")
SENT = re.compile(r"sent layer (\w+) chunks \S+ to (UV[0-9a-f]{32}) \((\d+) bytes\)")
LAYER_SIZE = 8192  # the flash page: the smallest layer an update can fetch
LOG_LINES = 4  # live log lines shown after v1
START_TIMEOUT_S, UPDATE_TIMEOUT_S, LOG_TIMEOUT_S, STOP_TIMEOUT_S = 30, 45, 20, 15

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


class DemoError(Exception):
    """The demo cannot go on; str() is one sentence."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM."""


class Background:
    """A `microvisor` command left running; its output lines collected by a thread."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], cwd: Path):
        self.name = name
        self.lines: list[str] = []
        self.errors: list[str] = []
        # A session of its own: Ctrl-C reaches the demo only, which stops everything in order.
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=env, cwd=cwd, start_new_session=True)
        for stream, sink in ((self.process.stdout, self.lines), (self.process.stderr, self.errors)):
            threading.Thread(target=_collect, args=(stream, sink), daemon=True).start()

    def wait_for(self, found: Callable[[], object], timeout: float, what: str) -> object:
        """Poll found() until it is truthy; DemoError when the process ends or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            value = found()
            if value:
                return value
            if self.process.poll() is not None:
                raise DemoError(f"{self.name} stopped (exit {self.process.returncode}) while the demo waited "
                                f"for {what}{_last(self.errors + self.lines)}.")
            if time.monotonic() > deadline:
                raise DemoError(f"{what} did not come within {timeout} s.")
            time.sleep(0.1)

    def stop(self) -> None:
        """Ctrl-C, as a user would; killed if it does not end in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _collect(stream, sink: list[str]) -> None:
    for line in stream:
        sink.append(line.rstrip("\n"))


def _last(lines: list[str]) -> str:
    text = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return f": {text.removeprefix('error: ').rstrip('.')}" if text else ""


class Demo:
    def __init__(self, examples: Path, cli: Path, folder: Path):
        self.examples = examples
        self.cli = cli
        self.folder = folder
        self.env = {**os.environ, "XDG_CONFIG_HOME": str(folder / "config"),  # leave the user's profile be
                    "COLUMNS": str(max(console.width, 150))}
        for name in ("MICROVISOR_URL", "MICROVISOR_ACCOUNT_SID", "MICROVISOR_AUTH_TOKEN"):
            self.env.pop(name, None)
        self.background: list[Background] = []
        self.stopped: list[Background] = []

    # --- running the CLI ------------------------------------------------------------------------
    def _show(self, args: tuple[str, ...], note: str = "") -> None:
        shown = " ".join(shlex.quote(arg.replace(f"{ROOT}/", "")) for arg in args)
        console.print(f"[bold]$ microvisor {shown}[/bold]{note}", markup=True)

    def run(self, *args: str, show_output: bool = True, timeout: float = 90) -> str:
        """One command to its end; its output (shown, indented, unless show_output is False)."""
        self._show(args)
        try:
            result = subprocess.run([str(self.cli), *args], capture_output=True, text=True, env=self.env,
                                    cwd=self.folder, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DemoError(f"`microvisor {' '.join(args[:2])}` did not finish in {timeout} s.") from None
        if result.returncode != 0:
            raise DemoError(f"`microvisor {' '.join(args[:2])}` failed"
                            f"{_last(result.stderr.splitlines() + result.stdout.splitlines())}.")
        if show_output:
            for line in result.stdout.splitlines():
                console.print(f"  {line}", markup=False)
        return result.stdout

    def start(self, name: str, *args: str) -> Background:
        self._show(args, "  [dim](in the background)[/dim]")
        process = Background(name, [str(self.cli), *args], self.env, self.folder)
        self.background.append(process)
        return process

    def stop(self, process: Background) -> None:
        process.stop()
        self.stopped.append(process)
        if process in self.background:
            self.background.remove(process)

    def stop_all(self) -> None:
        """Everything still running, the last started first (the server last)."""
        for process in reversed(self.background[:]):
            self.stop(process)

    # --- the story --------------------------------------------------------------------------------
    def main(self) -> None:
        v1_elf = self.examples / "blinky" / "blinky.elf"
        v2_elf = self.examples / "blinky_v2" / "blinky_v2.elf"
        for elf in (v1_elf, v2_elf):
            if not elf.is_file():
                raise DemoError(f"{elf} is missing; build the examples first (make examples).")

        heading("1. A server in a temporary folder")
        console.print(f"  [dim](the commands run in {self.folder})[/dim]")
        server = self.start("the server", "server", "--data", "server", "--port", "0")
        match = server.wait_for(lambda: LISTENING.search("\n".join(server.lines)), START_TIMEOUT_S,
                                "the server's address")
        url = match.group(1)
        account = ACCOUNT.search("\n".join(server.lines))
        if account is None:
            raise DemoError("the server did not print the new account's credentials.")
        self.env.update(MICROVISOR_URL=url, MICROVISOR_ACCOUNT_SID=account.group(1),
                        MICROVISOR_AUTH_TOKEN=account.group(2))
        console.print(f"  listening on {url}, new account {account.group(1)}; the commands below get "
                      "them from MICROVISOR_URL, MICROVISOR_ACCOUNT_SID, MICROVISOR_AUTH_TOKEN")

        heading("2. Two devices, registered with the server")
        sids = []
        for name in ("dev1", "dev2"):
            created = DEVICE.search(self.run("device", "create", name, "--server", url))
            if created is None:
                raise DemoError("`microvisor device create` did not name the device it made.")
            sids.append(created.group(1))

        heading("3. blinky v1, and v2 with one function changed")
        for version, elf in (("v1", v1_elf), ("v2", v2_elf)):
            self.run("apps", "bundle", str(elf), f"blinky-{version}.zip", "--unsigned",
                     "--layer-size", str(LAYER_SIZE))
            created = json.loads(self.run("apps", "create", f"blinky-{version}.zip", "--unique-name",
                                          f"blinky-{version}", "--json", show_output=False))
            console.print(f"  app {created['sid']} (blinky-{version})")

        heading("4. The devices power on; deploy v1")
        for number in (1, 2):
            self.start(f"device dev{number}", "device", "run", f"dev{number}")
        self.run("devices", "update", *sids, "--logging", "--target-app", "blinky-v1", "--wait",
                 "--wait-timeout", str(UPDATE_TIMEOUT_S))

        heading(f"5. Live logs from {sids[0]}")
        self.stream_logs(sids[0], LOG_LINES, "LED")

        heading("6. Deploy v2")
        server_mark = len(server.errors)  # the server's log: what it sends from here on is for v2
        self.run("devices", "update", *sids, "--target-app", "blinky-v2", "--wait",
                 "--wait-timeout", str(UPDATE_TIMEOUT_S))
        self.stream_logs(sids[1], 2, "(v2)")
        self.run("devices", "list")

        heading("7. What v2 cost")
        inspected = json.loads(self.run("apps", "inspect", "blinky-v2.zip", "--json", show_output=False))
        full = sum(layer["bytes"] for layer in inspected["layers"])
        total_layers = len(inspected["layers"])
        sent: dict[str, int] = {}
        layers: dict[str, set[str]] = {}
        for layer, sid, count in SENT.findall("\n".join(server.errors[server_mark:])):
            sent[sid] = sent.get(sid, 0) + int(count)
            layers.setdefault(sid, set()).add(layer)
        for sid in sids:
            if sid not in sent:
                raise DemoError(f"the server's log shows no chunks sent to {sid} for v2.")
            console.print(f"  {sid}  v2: [bold]{sent[sid]:,} bytes sent[/bold] of {full:,} (full image); "
                          f"{len(layers[sid])} of {total_layers} layer(s) fetched")
        console.print("  [dim](bytes sent: the server's own log of the chunks it published to each device; "
                      "full image: the v2 bundle's layers)[/dim]")
        if total_layers == 1:
            console.print(f"  [dim]blinky fits in one {LAYER_SIZE // 1024} KiB layer, so v2's changed layer "
                          "is the whole image; a larger app fetches only the layers that changed.[/dim]")

    def stream_logs(self, sid: str, count: int, text: str) -> None:
        """`logs stream` until `count` lines containing `text` arrive; they are shown."""
        stream = self.start("the log stream", "logs", "stream", sid)

        def enough() -> list[str] | None:
            found = [line for line in stream.lines if text in line]
            return found[:count] if len(found) >= count else None

        try:
            lines = stream.wait_for(enough, LOG_TIMEOUT_S, f"{count} log lines with {text!r}")
        finally:
            self.stop(stream)
        for line in lines:
            console.print(f"  {line}", markup=False)


def heading(text: str) -> None:
    console.print()
    console.rule(f"[bold cyan]{text}[/bold cyan]", align="left")


def _interrupt(signum, frame) -> None:
    raise Interrupted()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=Path, default=ROOT / "build" / "examples",
                        help="where the SDK examples were built (blinky/ and blinky_v2/)")
    parser.add_argument("--cli", type=Path, default=Path(sys.executable).parent / "microvisor",
                        help="the microvisor command")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    options = parser.parse_args(argv)
    if not options.cli.exists():
        errors.print(f"[red]demo failed:[/red] {options.cli} does not exist; run `make setup`.")
        return 1
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="microvisor-demo-"))
    demo = Demo(options.examples.resolve(), options.cli, folder)
    code = 0
    try:
        demo.main()
    except DemoError as exc:
        errors.print(f"\n[red]demo failed:[/red] {exc}")
        code = 1
    except Interrupted:
        errors.print("\n[red]demo interrupted[/red]; stopping what it started.")
        code = 130
    except Exception as exc:  # a bug in the demo itself: still one sentence, and everything stopped
        errors.print(f"\n[red]demo failed:[/red] unexpected {type(exc).__name__}: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave processes behind
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.stop_all()
        if options.keep:
            for number, process in enumerate(demo.stopped):
                text = "\n".join(process.lines + ["--- stderr ---"] + process.errors)
                (folder / f"output-{number}-{process.name.replace(' ', '-')}.txt").write_text(text + "\n")
            console.print(f"kept {folder} (with each background command's output)")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if code == 0:
        console.print(f"\n[green]demo done[/green] in {time.monotonic() - started:.0f} s; "
                      "the server and devices are stopped.")
    return code


if __name__ == "__main__":
    sys.exit(main())
