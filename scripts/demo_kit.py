"""What both demos run on: `microvisor` commands, in the background too, and a main() that stops them all."""

from __future__ import annotations

import argparse
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
START_TIMEOUT_S, STOP_TIMEOUT_S = 30, 15

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


class DemoError(Exception):
    """The demo cannot go on; str() is one sentence."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM."""


class Background:
    """A `microvisor` command left running; its output lines collected by threads."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], cwd: Path):
        self.name = name
        self.lines: list[str] = []
        self.errors: list[str] = []
        # A session of its own: Ctrl-C reaches the demo only, which stops everything in order.
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                                        start_new_session=True)
        streams = ((self.process.stdout, self.lines), (self.process.stderr, self.errors))
        self._readers = [threading.Thread(target=_collect, args=(stream, sink), daemon=True)
                         for stream, sink in streams]
        for reader in self._readers:
            reader.start()

    def wait_for(self, found: Callable[[], object], timeout: float, what: str) -> object:
        """Poll found() until it is truthy; DemoError when the process ends or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            value = found()
            if value:
                return value
            if self.process.poll() is not None:
                raise DemoError(f"{self.name} stopped (exit {self.process.returncode}) while the demo waited "
                                f"for {what}{last_line(self.errors + self.lines)}.")
            if time.monotonic() > deadline:
                raise DemoError(f"{what} did not come within {timeout} s.")
            time.sleep(0.1)

    def follow(self, timeout: float) -> int:
        """Show its output lines as they come until it ends; its exit status."""
        deadline = time.monotonic() + timeout
        shown = 0
        while True:
            ended = self.process.poll() is not None
            if ended:
                for reader in self._readers:
                    reader.join(timeout=5)
            for line in self.lines[shown:]:
                console.print(f"  {line}", markup=False)
            shown = len(self.lines)
            if ended:
                return self.process.returncode
            if time.monotonic() > deadline:
                raise DemoError(f"{self.name} did not finish within {timeout} s.")
            time.sleep(0.05)

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


def last_line(lines: list[str]) -> str:
    """': ' and the last non-blank line (without 'error: '), to end a sentence with; '' when there is none."""
    text = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return f": {text.removeprefix('error: ').rstrip('.')}" if text else ""


class Demo:
    """The `microvisor` commands a demo runs in its temporary folder; story() is the demo itself."""

    def __init__(self, examples: Path, cli: Path, folder: Path):
        self.examples = examples
        self.cli = cli
        self.folder = folder
        self.env = {**os.environ, "XDG_CONFIG_HOME": str(folder / "config"),  # leave the user's profile be
                    "COLUMNS": str(self.columns())}
        for name in [key for key in self.env if key.startswith("MICROVISOR_")]:
            self.env.pop(name)
        self.background: list[Background] = []
        self.stopped: list[Background] = []

    def columns(self) -> int:
        """The width the commands format their output for."""
        return max(console.width, 150)

    def story(self) -> None:
        raise NotImplementedError

    # --- running the CLI ------------------------------------------------------------------------
    def _show(self, args: tuple[str, ...], note: str = "") -> None:
        shown = " ".join(shlex.quote(arg.replace(f"{ROOT}/", "")) for arg in args)
        console.print(f"[bold]$ microvisor {shown}[/bold]{note}", markup=True)

    def run(self, *args: str, show_output: bool = True, quiet: bool = False, timeout: float = 90) -> str:
        """One command to its end; its output (shown, indented, unless show_output is False; the command
        itself not shown either when quiet: a check the demo makes for itself)."""
        if not quiet:
            self._show(args)
        try:
            result = subprocess.run([str(self.cli), *args], capture_output=True, text=True, env=self.env,
                                    cwd=self.folder, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DemoError(f"`microvisor {' '.join(args[:2])}` did not finish in {timeout} s.") from None
        if result.returncode != 0:
            raise DemoError(f"`microvisor {' '.join(args[:2])}` failed"
                            f"{last_line(result.stderr.splitlines() + result.stdout.splitlines())}.")
        if show_output:
            for line in result.stdout.splitlines():
                console.print(f"  {line.rstrip()}", markup=False)
        return result.stdout

    def start(self, name: str, *args: str, note: str = "  [dim](in the background)[/dim]") -> Background:
        self._show(args, note)
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

    def start_server(self) -> tuple[Background, str, str, str]:
        """`microvisor server` in the folder, its URL and new account in self.env; the server, URL, account
        SID and auth token."""
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
        return server, url, account.group(1), account.group(2)


def heading(text: str) -> None:
    console.print()
    console.rule(f"[bold cyan]{text}[/bold cyan]", align="left")


def _interrupt(signum, frame) -> None:
    raise Interrupted()


def main(demo: Callable[[Path, Path, Path], Demo], description: str | None, argv: list[str] | None, *,
         examples: str, prefix: str, stopped: str) -> int:
    """Run demo(...).story() in a new temporary folder, then stop all it started; the exit status: 0, 1
    when it failed, 130 when interrupted. examples: the ones it needs; prefix: the folder's; stopped: what
    "demo done" says is stopped."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--examples", type=Path, default=ROOT / "build" / "examples",
                        help=f"where the SDK examples were built ({examples})")
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
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    running = demo(options.examples.resolve(), options.cli, folder)
    code = 0
    try:
        running.story()
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
        running.stop_all()
        if options.keep:
            for number, process in enumerate(running.stopped):
                text = "\n".join(process.lines + ["--- stderr ---"] + process.errors)
                (folder / f"output-{number}-{process.name.replace(' ', '-')}.txt").write_text(text + "\n")
            console.print(f"kept {folder} (with each background command's output)")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if code == 0:
        console.print(f"\n[green]demo done[/green] in {time.monotonic() - started:.0f} s; {stopped} are "
                      "stopped.")
    return code
