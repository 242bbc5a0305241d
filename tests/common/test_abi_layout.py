"""The SDK header's enum sizes and structure layouts against the published v0.7.0 ABI, under both flags."""

from __future__ import annotations

import json
import subprocess
from enum import Enum
from functools import cache
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from microvisor.common import mv_abi
from tests.conftest import ROOT, _require_toolchain

HEADER = ROOT / "sdk" / "include" / "mv_syscalls.h"
# Recorded by compiling the published header's type definitions with arm-none-eabi-gcc 12.2
# (-mcpu=cortex-m33 -mthumb) under each flag; the header itself is not part of this project.
PUBLISHED = Path(__file__).resolve().parent / "data" / "published_abi_v0_7_0.json"
FLAGS = {"short-enums": "-fshort-enums", "no-short-enums": "-fno-short-enums"}
CFLAGS = ["-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=soft", "-std=gnu11", "-O0", "-c"]


def published() -> dict:
    return json.loads(PUBLISHED.read_text())


# --- measuring: each quantity becomes a 32-bit constant in .rodata, read back from the object ----
def _c_type(name: str, kind: str) -> str:
    return {"enum": f"enum {name}", "struct": f"struct {name}", "typedef": name}[kind]


def measurements(types: dict) -> dict[str, str]:
    """key -> C expression for every size, alignment, field offset and field size that `types` lists.

    `types` is {"enums": [name...], "typedefs": [name...], "structs": {name: [field path...]}};
    a field path may reach into a named union member ("v1.chip_id").
    """
    wanted: dict[str, str] = {}
    kinds = [("enum", name) for name in types["enums"]] + [("typedef", n) for n in types["typedefs"]]
    kinds += [("struct", name) for name in types["structs"]]
    for kind, name in kinds:
        c_type = _c_type(name, kind)
        wanted[f"{name}:size"] = f"sizeof({c_type})"
        wanted[f"{name}:align"] = f"_Alignof({c_type})"
    for name, fields in types["structs"].items():
        for path in fields:
            wanted[f"{name}.{path}:offset"] = f"__builtin_offsetof(struct {name}, {path})"
            wanted[f"{name}.{path}:size"] = f"sizeof(((struct {name} *)0)->{path})"
    return wanted


def enumerator_measurements() -> dict[str, str]:
    """key -> the header's constant for every member of every enum mv_abi defines."""
    wanted = {}
    for type_name in mv_abi.ENUM_NAMES:
        python_enum = getattr(mv_abi, type_name)
        prefix = "MV_" + type_name[2:].upper()
        for member in python_enum.__members__.values():
            wanted[f"{type_name}.{member.name}:value"] = f"(uint32_t)({prefix}_{member.name})"
    return wanted


def compile_measurements(header: Path, wanted: dict[str, str], flag: str, workdir: Path) -> dict[str, int]:
    """Compile `wanted` against `header` with arm-none-eabi-gcc and `flag`; key -> measured value."""
    keys = sorted(wanted)
    lines = [f'#include "{header}"', "#include <stdint.h>", ""]
    lines += [f"__attribute__((used)) const uint32_t abi_{i} = {wanted[key]};" for i, key in enumerate(keys)]
    source = workdir / f"abi{flag}.c"
    obj = source.with_suffix(".o")
    source.write_text("\n".join(lines) + "\n")
    result = subprocess.run(["arm-none-eabi-gcc", *CFLAGS, flag, str(source), "-o", str(obj)],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"the header does not compile with {flag}:\n{result.stderr[-4000:]}"
    values: dict[str, int] = {}
    with open(obj, "rb") as handle:
        elf = ELFFile(handle)
        symbols = elf.get_section_by_name(".symtab")
        for symbol in symbols.iter_symbols():
            if not symbol.name.startswith("abi_"):
                continue
            section = elf.get_section(symbol["st_shndx"])
            data = section.data()[symbol["st_value"] : symbol["st_value"] + 4]
            values[keys[int(symbol.name[4:])]] = int.from_bytes(data, "little")
    assert len(values) == len(keys)
    return values


@cache
def _ours(flag_name: str, workdir: str) -> dict[str, int]:
    return compile_measurements(HEADER, measurements(published()["types"]), FLAGS[flag_name], Path(workdir))


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    _require_toolchain()
    workdir = str(tmp_path_factory.mktemp("abi"))
    return lambda flag_name: _ours(flag_name, workdir)


def _layout(values: dict[str, int], types: dict) -> dict:
    """Measured values as the fixture records them: enums, typedefs and structs with their fields."""
    return {
        "enums": {name: values[f"{name}:size"] for name in types["enums"]},
        "typedefs": {name: values[f"{name}:size"] for name in types["typedefs"]},
        "structs": {
            name: {"size": values[f"{name}:size"], "align": values[f"{name}:align"],
                   "fields": {path: [values[f"{name}.{path}:offset"], values[f"{name}.{path}:size"]]
                              for path in fields}}
            for name, fields in types["structs"].items()},
    }


# --- the header against the published numbers -----------------------------------------------------
@pytest.mark.parametrize("flag_name", list(FLAGS))
def test_enum_sizes_match_published(ours, flag_name):
    types, recorded = published()["types"], published()["layouts"][flag_name]
    measured = _layout(ours(flag_name), types)
    wrong = {name: (measured["enums"][name], size) for name, size in recorded["enums"].items()
             if measured["enums"][name] != size}
    assert not wrong, f"enum sizes (ours, published) under {FLAGS[flag_name]}: {wrong}"
    assert measured["typedefs"] == recorded["typedefs"]


@pytest.mark.parametrize("flag_name", list(FLAGS))
def test_struct_layouts_match_published(ours, flag_name):
    types, recorded = published()["types"], published()["layouts"][flag_name]
    measured = _layout(ours(flag_name), types)["structs"]
    wrong = {name: {"ours": measured[name], "published": layout}
             for name, layout in recorded["structs"].items() if measured[name] != layout}
    assert not wrong, f"structure layouts under {FLAGS[flag_name]} differ: {json.dumps(wrong, indent=1)}"


def test_published_fixture_covers_every_type_of_the_header():
    """Every enum and structure the header declares is in the recorded published ABI, and back."""
    text = HEADER.read_text()
    declared = {"enums": set(), "structs": set()}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] in ("enum", "struct") and words[-1] == "{":
            declared[words[0] + "s"].add(words[-2])
    types = published()["types"]
    assert declared["enums"] == set(types["enums"])
    assert declared["structs"] == set(types["structs"])


# --- mv_abi.py, the kernel's view, against the compiled header ---------------------------------------
@pytest.mark.parametrize("flag_name", list(FLAGS))
def test_mv_abi_sizes_agree_with_the_header(ours, flag_name):
    short = flag_name == "short-enums"
    measured = _layout(ours(flag_name), published()["types"])
    python_enums = {name: mv_abi.enum_size(name, short_enums=short) for name in mv_abi.ENUM_NAMES}
    assert python_enums == measured["enums"]
    python_structs = {}
    for name in mv_abi.STRUCTS:
        size, align, fields = mv_abi.struct_layout(name, short_enums=short)
        python_structs[name] = {"size": size, "align": align,
                                "fields": {path: list(spec) for path, spec in fields.items()}}
    assert python_structs == measured["structs"]


def test_mv_abi_enumerators_agree_with_the_header(tmp_path):
    _require_toolchain()
    values = compile_measurements(HEADER, enumerator_measurements(), FLAGS["short-enums"], tmp_path)
    expected = {f"{name}.{member.name}:value": int(member) for name in mv_abi.ENUM_NAMES
                for member in getattr(mv_abi, name).__members__.values()}
    assert values == expected


def test_mv_abi_enum_classes_are_the_header_enums():
    assert set(mv_abi.ENUM_NAMES) == set(published()["types"]["enums"])
    for name in mv_abi.ENUM_NAMES:
        assert issubclass(getattr(mv_abi, name), Enum)
