"""What `microvisor` loads to start: --help and option parsing stay clear of the heavy packages, and the
options' direct coercion (cli/params.py) gives exactly what Typer's own would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import typer._click as click
import typer.main
from google.protobuf.descriptor import FieldDescriptor

from microvisor.cli import params
from microvisor.cli.main import app
from microvisor.common.manifest_schema import AppBody, KernelMeta

# Packages a command loads only when its own work needs them.
HEAVY = ("pydantic", "cryptography", "google.protobuf", "capstone", "unicorn", "elftools", "httpx", "paho",
         "sqlalchemy", "fastapi", "uvicorn", "microvisor.device", "microvisor.kernel",
         "microvisor.cloud.service", "pkcs11", "microvisor.factory")
PROBE = """
import json, sys
from microvisor.cli.main import app
sys.argv = ["microvisor", *json.loads(sys.argv[1])]
try:
    app()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded(args: list[str], tmp_path) -> set[str]:
    """The modules a fresh `microvisor ARGS` has loaded when it exits (without service credentials)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROVISOR_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"))
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True,
                          env=env, check=False, timeout=60)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def heavy(modules: set[str]) -> list[str]:
    """The heavy modules among modules."""
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("args", [["--help"], ["device", "run", "--help"], ["apps", "bundle", "--help"],
                                  ["kernel", "build", "--help"], ["server", "--help"],
                                  ["factory", "card", "issue", "--help"], ["factory", "station", "--help"],
                                  ["factory", "image", "--help"], ["device", "blank", "--help"]])
def test_help_loads_no_heavy_package(args, tmp_path):
    assert heavy(loaded(args, tmp_path)) == []


def test_parsing_options_loads_no_pydantic(tmp_path):
    """Values of every kind parsed (path, integer, seconds, text, choice list), then a refusal in the
    command itself: Typer's pydantic coercion is not loaded to call our parsers."""
    modules = loaded(["logs", "stream", "UV" + "0" * 32, "--after", "3"], tmp_path)
    assert "pydantic" not in modules and heavy(modules) == []
    modules = loaded(["device", "run", str(tmp_path), "--timeout", "1.5", "--trace", "gpio,uart",  # no device
                      "--gdb", "0", "--until", "x", "--power-cut-after-writes", "3"], tmp_path)
    assert "pydantic" not in modules


# --- the direct coercion against Typer's own ------------------------------------------------------------
SAMPLES: list[Any] = ["0", "1", "65535", "70000", "-3", "1.5", "nan", "1e400", "", "x", "a b", "/", "/tmp",
                      "/nonexistent/x", "gpio,uart", "gpio,bogus", "irq", "AC" + "0" * 32, "http://127.0.0.1:8080",
                      "ftp://x", "127.0.0.1:8883", "[::1]:1", "0" * 24, "zz", "\0", 600, 1.5]


def _parameters(command: Any, path: tuple[str, ...] = ()):
    """(path, command, parameter) for every parameter of the command tree."""
    for param in command.params:
        yield path, command, param
    for name, child in sorted((getattr(command, "commands", None) or {}).items()):
        yield from _parameters(child, (*path, name))


def _outcome(runtime: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    """What a coercion makes of value: ("value", the result) or (the exception's type, its words)."""
    try:
        return "value", runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # both must fail alike: the same exception, the same words
        return type(exc).__name__, str(exc)


def test_direct_coercion_gives_what_typer_gives(tmp_path, monkeypatch):
    from typer._coercion import build_runtime_param

    monkeypatch.chdir(tmp_path)
    root = typer.main.get_command(app)
    checked = 0
    for _, command, param in _parameters(root):
        ctx = click.Context(command)
        direct = param._runtime_param
        assert isinstance(direct, params._DirectCoercion), param.name
        own = build_runtime_param(param.type_descriptor)
        multiple = param.multiple or param.nargs == -1
        values = [None, *([tuple(SAMPLES[:3]), [SAMPLES[13]], ()] if multiple else SAMPLES)]
        for value in values:
            expected = _outcome(own, value, param, ctx)
            assert _outcome(direct, value, param, ctx) == expected, (param.name, value)
            checked += 1
    assert checked > 1000


def test_help_options_are_coerced_directly():
    root = typer.main.get_command(app)
    group = root.commands["device"]
    for command in (root, group, group.commands["run"]):
        option = command.get_help_option(click.Context(command))
        assert isinstance(option._runtime_param, params._DirectCoercion)


# --- manifest ranges from the table, as protobuf has them -------------------------------------------------
def _integer_fields(descriptor: Any, prefix: str = ""):
    """(dotted path, wire type) of every unsigned integer field below a message descriptor."""
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            yield from _integer_fields(field.message_type, f"{prefix}{field.name}.")
        elif field.type in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64):
            yield f"{prefix}{field.name}", field.type


@pytest.mark.parametrize("message, name", [(AppBody, "AppManifest.AppBody"), (KernelMeta, "KernelMeta")])
def test_manifest_ranges_match_the_protobuf_types(message, name):
    widest = {FieldDescriptor.TYPE_UINT32: params.UINT32_MAX, FieldDescriptor.TYPE_UINT64: params.UINT64_MAX}
    fields = list(_integer_fields(message.DESCRIPTOR))
    assert fields
    for field, kind in fields:
        assert params.manifest_integer(name, field).maximum == widest[kind], field
