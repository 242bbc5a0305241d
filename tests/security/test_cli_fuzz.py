"""Every command and parameter of `microvisor`, found in the Typer app, given hostile values one at a time.

Each run gives one parameter a hostile value (by the parameter's declared type) and every other required
parameter a plausible one, in a fresh folder that is also HOME, XDG_CONFIG_HOME and TMPDIR, with the
service at a closed port. Each must exit non-zero, without a traceback, within the time limit, and write
nothing outside its folder.
"""

from __future__ import annotations

import os
import resource
import secrets
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
import typer.main
from microvisor.cli import params
from microvisor.cli.main import app
from microvisor.common.bundle import build_app

from ..conftest import CLI, ROOT

RUN_TIMEOUT_S = 30
WORKERS = 3  # on 2 cores: each run also waits on its disk and on starting up
BOMB_MEMORY = 1 << 30  # address space for runs given the zip bomb
BOMB_SIZE = 3 << 30  # bytes the bomb's one entry inflates to
CLOSED_URL = "http://127.0.0.1:1"  # nothing listens on port 1: every request is refused at once
TOKEN = "fz" + secrets.token_hex(4)  # in every name a run is given, to find it should it land elsewhere


# --- the commands, from the app itself ------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    params: tuple[Any, ...]

    @property
    def name(self) -> str:
        return " ".join(self.path)


def commands(node: Any = None, path: tuple[str, ...] = ()) -> Iterator[Command]:
    """Every command of the app, and every group that takes parameters of its own (`server`)."""
    node = typer.main.get_command(app) if node is None else node
    own = tuple(p for p in node.params if p.expose_value)
    children = getattr(node, "commands", None)
    if children is None or own:
        yield Command(path, own)
    for name, child in sorted((children or {}).items()):
        yield from commands(child, (*path, name))


def kind_of(param: Any) -> str | None:
    """What sort of value a parameter takes: its params type's kind, else one from its annotation."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    descriptor = param.type_descriptor
    parser = descriptor.parameter_info.parser
    if isinstance(parser, params.ParamType):
        return parser.kind
    annotation = descriptor.annotation
    if get_origin(annotation) in (list, tuple):
        annotation = get_args(annotation)[0]
    if annotation is bool:
        return None
    if annotation is int:
        return "integer"
    if annotation is float:
        return "seconds"
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "path"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "choice"
    return "text"


# --- the files the runs are given ---------------------------------------------------------------------
LOOPING_FIRMWARE = struct.pack("<II", 0x20001000, 0x08000009) + b"\xfe\xe7" * 28  # reset: `b .` forever


def write_bomb(path: Path) -> None:
    """A ZIP of a few MB whose one entry, 'manifest', honestly declares and inflates to BOMB_SIZE bytes."""
    chunk = bytes(1 << 24)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)  # needs no earlier history
    count = BOMB_SIZE // len(chunk)
    data = piece * count + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    name = b"manifest"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), BOMB_SIZE,
                        len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), BOMB_SIZE,
                          len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    path.write_bytes(local + data + central + end)


def environment(root: Path, pycache: Path) -> dict[str, str]:
    """No MICROVISOR_* of ours: the service is at a closed port; everything else points into root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MICROVISOR_", "XDG_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled once into pycache, not at every run
    env.update(HOME=str(root / "home"), XDG_CONFIG_HOME=str(root / "home" / ".config"),
               TMPDIR=str(root / "tmp"), PYTHONPYCACHEPREFIX=str(pycache), MICROVISOR_URL=CLOSED_URL,
               MICROVISOR_ACCOUNT_SID="AC" + "0" * 32, MICROVISOR_AUTH_TOKEN="0" * 32, COLUMNS="200")
    return env


def cli(*args: str, cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run([str(CLI), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (args, result.stderr)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Good and bad files every run may be given: kept read-only by copying what a run could change."""
    root = tmp_path_factory.mktemp("fuzz-inputs")
    env = environment(root, root / "pycache")
    for folder in ("home", "tmp", "empty-dir"):
        (root / folder).mkdir()
    (root / "loop.bin").write_bytes(LOOPING_FIRMWARE)
    cli("platform", "init", "platform", cwd=root, env=env)
    cli("keys", "generate", "key.pem", cwd=root, env=env)
    cli("device", "create", "device", "--platform", "platform", cwd=root, env=env)
    cli("kernel", "build", "--platform", "platform", "-o", "kernel.zip", cwd=root, env=env)
    build_app(LOOPING_FIRMWARE).write(root / "app.zip")
    whole = (root / "app.zip").read_bytes()
    (root / "truncated.zip").write_bytes(whole[: len(whole) // 2])
    (root / "garbage.bin").write_bytes(b"\xff\xfe\x00garbage\x80" * 200)
    write_bomb(root / "bomb.zip")
    return root


# --- hostile and plausible values, by kind ------------------------------------------------------------
def hostile_values(kind: str, inputs: Path) -> list[str | bytes]:
    missing = os.fsencode(inputs) + b"/missing-\xff.zip"  # not UTF-8, and not there
    folder, garbage, truncated, bomb = (str(inputs / n) for n in ("empty-dir", "garbage.bin", "truncated.zip",
                                                                   "bomb.zip"))
    under_file = str(inputs / "garbage.bin" / "child")
    return {
        "integer": [str(2**64), "-1", "nan", str(10**30)],
        "seconds": ["nan", "inf", "-1"],
        "text": ["", b"\xff"],
        "name": ["", "a/b"],
        "pattern": ["", "é", "AC"],
        "hex": ["", "zz", "00" * 13],
        "choice": ["", "é"],
        "host": ["", "::::", "é"],
        "address": ["", "::::", "h:99999", "http://h:1"],
        "url": ["", "http://[::1", "ftp://h", "http://h:99999"],
        "dut": ["", "h:1", "h:0:2", "h:1:99999", "é=h:1:2", "a/b:1:2"],
        "file": [missing, folder, truncated, bomb, garbage],
        "output": [folder, "", under_file, str(inputs / "no-such-folder" / f"{TOKEN}.zip")],
        "folder": [missing, garbage, folder, "", under_file],
        "new-folder": [garbage, "", under_file],
        "existing": [missing, truncated, folder, bomb, "", under_file, garbage],
        "path": ["", under_file],
    }[kind]


def plausible_value(param: Any, kind: str, inputs: Path, run: Path) -> str:
    """A value a user could give: the run then fails only because of the one hostile value."""
    parser = param.type_descriptor.parameter_info.parser
    hint = f"{param.name} {param.metavar or ''}".lower()
    if kind == "file":
        if "signing" in hint:
            return str(inputs / "key.pem")
        if "pem" in hint or "pub" in hint or "key" in hint:
            return str(inputs / "key.pub.pem")
        if "kernel" in hint:
            return str(inputs / "kernel.zip")
        return str(inputs / ("app.zip" if "zip" in hint or "bundle" in hint else "loop.bin"))
    if kind in ("folder", "existing"):
        if "platform" in hint:
            return str(inputs / "platform")
        if not (run / "device").exists():  # a copy: a run may change the device it is given
            shutil.copytree(inputs / "device", run / "device")
        return str(run / "device")
    return {
        "integer": str(getattr(parser, "minimum", 1)),
        "seconds": "1",
        "pattern": "AC" + "0" * 32,
        "hex": "00" * getattr(parser, "size", 1),
        "choice": (getattr(parser, "choices", None) or ["x"])[0],
        "host": "127.0.0.1",
        "address": "127.0.0.1:1",
        "url": CLOSED_URL,
        "output": f"{TOKEN}.{'pem' if 'pem' in hint else 'zip'}",
        "new-folder": f"{TOKEN}-folder",
    }.get(kind, f"{TOKEN}x")


@dataclass(frozen=True)
class Case:
    command: Command
    param: Any
    value: str | bytes

    def __str__(self) -> str:
        return f"microvisor {self.command.name} {self.param.opts[-1]}={self.value!r}"


def cases(command: Command, inputs: Path) -> list[Case]:
    """The first parameter of each kind in a command gets every hostile value of the kind; the others,
    which the same type checks, one each, in turn. A parameter's own default is no hostile value (as
    `--name ""` where "" is the default)."""
    found = []
    seen: dict[str, int] = {}
    for param in command.params:
        kind = kind_of(param)
        if kind is None:
            continue
        values = [value for value in hostile_values(kind, inputs) if value != param.default]
        turn = seen[kind] = seen.get(kind, -1) + 1
        chosen = values if turn == 0 or not values else [values[turn % len(values)]]
        found += [Case(command, param, value) for value in chosen]
    return found


def argv(case: Case, inputs: Path, run: Path) -> list[str | bytes]:
    """Options first, then `--` and the arguments, so that a value like -1 is never read as an option."""
    options: list[str | bytes] = []
    arguments: list[str | bytes] = []
    for param in case.command.params:
        kind = kind_of(param)
        if param is case.param:
            value: str | bytes = case.value
        elif param.required and kind is not None:
            value = plausible_value(param, kind, inputs, run)
        else:
            continue
        if param.param_type_name == "argument":
            arguments.append(value)
        else:
            options += [max(param.opts, key=len), value]
    return [*case.command.path, *options, "--", *arguments]


def run_case(case: Case, inputs: Path, root: Path, number: int) -> str | None:
    """One run in its own folder; what went wrong, or None."""
    run = root / f"run{number}"
    for folder in ("home", "tmp"):
        (run / folder).mkdir(parents=True)
    args = argv(case, inputs, run)
    bomb = case.value == str(inputs / "bomb.zip")

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (BOMB_MEMORY, BOMB_MEMORY))

    try:
        result = subprocess.run([str(CLI), *args], cwd=run, env=environment(run, inputs / "pycache"),
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=RUN_TIMEOUT_S,
                                preexec_fn=limit_memory if bomb else None)
    except subprocess.TimeoutExpired:
        return f"{case}: still running after {RUN_TIMEOUT_S} s (the hostile value was accepted)"
    output = (result.stdout + result.stderr).decode(errors="replace")
    if "Traceback" in output:
        return f"{case}: a traceback\n{output[-1500:]}"
    if result.returncode == 0:
        return f"{case}: exit 0, the hostile value was accepted\n{output[-500:]}"
    if result.returncode < 0:
        return f"{case}: killed by signal {-result.returncode}\n{output[-500:]}"
    return None


# --- nothing written outside ----------------------------------------------------------------------------
def outside(inputs: Path) -> dict[Path, set[str]]:
    """What the runs must leave alone: the repository, /tmp, the real home and the shared inputs."""
    home = Path.home()
    places = [ROOT, Path("/tmp"), home, home / ".config", inputs]
    return {place: set(os.listdir(place)) if place.is_dir() else set() for place in places}


def written_outside(before: dict[Path, set[str]], inputs: Path) -> list[str]:
    """New names there: in the repository and /tmp, where other work comes and goes, only names with
    our TOKEN (every file name a run is given has it); in the home, the CLI's own folders (profile,
    server data) and TOKEN names; in the inputs, anything."""
    found = []
    for place, names in outside(inputs).items():
        new = names - before[place]
        if place != inputs:
            new = {name for name in new if TOKEN in name or name in (".microvisor", "microvisor")}
        found += [str(place / name) for name in sorted(new)]
    return found


# --- the test ---------------------------------------------------------------------------------------------
ALL = list(commands())


@pytest.fixture(scope="module")
def outcomes(inputs: Path, tmp_path_factory) -> dict[str, tuple[int, list[str]]]:
    """Every case of every command, run WORKERS at a time: command name -> (runs, what went wrong)."""
    root = tmp_path_factory.mktemp("fuzz-runs")
    todo = [case for command in ALL for case in cases(command, inputs)]
    before = outside(inputs)
    with ThreadPoolExecutor(WORKERS) as pool:
        problems = list(pool.map(lambda item: run_case(item[1], inputs, root, item[0]), enumerate(todo)))
    found: dict[str, tuple[int, list[str]]] = {command.name: (0, []) for command in ALL}
    for case, problem in zip(todo, problems, strict=True):
        runs, wrong = found[case.command.name]
        found[case.command.name] = (runs + 1, wrong + ([problem] if problem else []))
    leaked = written_outside(before, inputs)
    found["(outside)"] = (len(todo), [f"written outside the runs' folders: {path}" for path in leaked])
    return found


def test_every_command_is_found():
    names = {command.name for command in ALL}
    assert {"device run", "apps bundle", "kernel build", "login", "server", "apps inspect"} <= names
    assert all(command.params for command in ALL if command.name in ("device run", "server"))


@pytest.mark.parametrize("name", [command.name for command in ALL] + ["(outside)"])
def test_hostile_values_are_refused_without_a_traceback(name: str, outcomes):
    runs, problems = outcomes[name]
    if not runs:
        pytest.skip("no parameter takes a value")
    assert not problems, f"{len(problems)} of {runs} runs went wrong:\n" + "\n\n".join(problems)
