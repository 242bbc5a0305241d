"""Start-up benchmark: wall time of `microvisor --help` and of `device run` to its first log line, as JSON.

Each figure is the best of REPEATS fresh processes of the venv's interpreter on this host, the kinds
of run alternated so that each sees the same conditions on a shared host, with two baselines beside
them so that they read as ratios as well as times:

- python_pass_s: `python -c pass` (the floor every command pays).
- typer_help_floor_s: `--help` of a Typer app of one group and one command, in the same
  interpreter and Typer (with Rich): the floor of any Typer command's help (Typer, its Rich help
  formatter, building the command tree).
- help_s: `microvisor --help` from spawn to exit, its output to a pipe.
- device_run_first_line_s: `microvisor device run build/examples/blinky/blinky.elf --until "LED on"
  --fast` (`--timeout 5` where the CLI has no --fast) from spawn to the moment its first line of
  application output (a `[   seconds] text` line on stdout) can be read from the pipe: the
  command's imports, making the throw-away development device (platform keys, a signed kernel),
  staging the application, the boot ROM's checks, the kernel's start and the application up to
  its first log line ("LED on", at 0.5 s of virtual time).
- device_run_exit_s: the same process from spawn to exit (it stops at that first line).

Also printed: help_s and device_run_first_line_s as multiples of python_pass_s; whether Python writes
bytecode here (with PYTHONDONTWRITEBYTECODE set it does not: `make setup` compiles the project's
source once so that runs do not compile it again, tens of milliseconds of a `device run`, and a module
edited since is compiled at each run until the next `make setup`); and, from one more run of each
command under `python -X importtime` (not part of the figures), the imports that dominate it: each
top-level import with its cumulative milliseconds (importtime's own overhead included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 7
TOP_IMPORTS = 8  # top-level imports listed for each command (those of 1 ms or more)
BLINKY = ROOT / "build" / "examples" / "blinky" / "blinky.elf"
MICROVISOR = Path(sys.executable).parent / "microvisor"
TYPER_FLOOR = """
import typer
app = typer.Typer(help="A floor.", no_args_is_help=True, add_completion=False)
group = typer.Typer(help="A group.", no_args_is_help=True)
@group.command("one")
def one(count: int = typer.Option(1, help="A number.")) -> None:
    '''A command.'''
app.add_typer(group, name="group")
app()
"""


def timed(argv: list[str]) -> float:
    """Seconds from spawn to exit; the command must succeed."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-400:]}")
    return seconds


def first_line(argv: list[str]) -> tuple[float, float]:
    """Seconds from spawn to the first application line on stdout, and to exit."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    line = process.stdout.readline()
    first = time.perf_counter() - started
    _, stderr = process.communicate()
    total = time.perf_counter() - started
    if process.returncode != 0 or not line.startswith(b"["):
        sys.exit(f"{' '.join(argv)} failed ({process.returncode}): first line {line!r}, "
                 f"{stderr.decode()[-400:]}")
    return first, total


def top_imports(argv: list[str]) -> dict[str, float]:
    """The command's heaviest top-level imports (cumulative ms), from one run under -X importtime."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True)
    found: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if cumulative.strip().isdigit() and name.startswith(" ") and not name.startswith("  "):
            found[name.strip()] = found.get(name.strip(), 0.0) + int(cumulative) / 1000
    heaviest = sorted(found.items(), key=lambda item: -item[1])[:TOP_IMPORTS]
    return {name: round(ms, 1) for name, ms in heaviest if ms >= 1}


def run_options() -> list[str]:
    """--fast where `device run` has it (virtual time not held back), else a virtual timeout."""
    shown = subprocess.run([str(MICROVISOR), "device", "run", "--help"], capture_output=True, text=True)
    return ["--fast"] if "--fast" in shown.stdout else ["--timeout", "5"]


def main() -> None:
    if not BLINKY.exists():
        sys.exit(f"{BLINKY} is missing: run `make examples` first")
    load = os.getloadavg()[0]
    options = run_options()
    run_argv = [str(MICROVISOR), "device", "run", str(BLINKY), "--until", "LED on", *options]
    runs: dict[str, list[float]] = {"python_pass_s": [], "typer_help_floor_s": [], "help_s": [],
                                    "device_run_first_line_s": [], "device_run_exit_s": []}
    for _ in range(REPEATS):
        runs["python_pass_s"].append(timed([sys.executable, "-c", "pass"]))
        runs["typer_help_floor_s"].append(timed([sys.executable, "-c", TYPER_FLOOR, "--help"]))
        runs["help_s"].append(timed([str(MICROVISOR), "--help"]))
        first, total = first_line(run_argv)
        runs["device_run_first_line_s"].append(first)
        runs["device_run_exit_s"].append(total)
    best = {name: min(values) for name, values in runs.items()}
    base = best["python_pass_s"]
    print(json.dumps({
        **{name: round(value, 4) for name, value in best.items()},
        "help_vs_python": round(best["help_s"] / base, 1),
        "device_run_first_line_vs_python": round(best["device_run_first_line_s"] / base, 1),
        "device_run_options": options,
        "bytecode_writing": "off (PYTHONDONTWRITEBYTECODE)" if sys.flags.dont_write_bytecode else "on",
        "top_imports_ms": {"help": top_imports([str(MICROVISOR), "--help"]),
                           "device_run": top_imports(run_argv)},
        "note": f"best of {REPEATS} fresh processes, the kinds alternated; load average {load:.2f} at start",
    }))


if __name__ == "__main__":
    main()
