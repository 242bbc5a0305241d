"""Shared fixtures: the real toolchain builds the SDK examples and small test programs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLCHAIN = ROOT / "sdk" / "cmake" / "arm-none-eabi.cmake"
CLI = ROOT / ".venv" / "bin" / "microvisor"

# A test run started in the background by a non-interactive shell (`make test &`) inherits SIGINT
# ignored, and so would every process the tests start, then stop with SIGINT as a person's Ctrl-C:
# they would never stop. Catching it here gives the processes started from now on the default back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _require_toolchain() -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("arm-none-eabi-gcc is missing: run `make setup` (apt gcc-arm-none-eabi)")


@pytest.fixture(scope="session")
def examples(tmp_path_factory) -> Path:
    """Build every SDK example once; returns the build directory (<name>/<name>.elf)."""
    _require_toolchain()
    build = tmp_path_factory.mktemp("examples")
    subprocess.run(["cmake", "-S", str(ROOT / "sdk" / "examples"), "-B", str(build),
                    f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN}"], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2)], check=True,
                   capture_output=True)
    return build


@pytest.fixture(scope="session")
def assemble(tmp_path_factory):
    """Assemble and link a small Thumb program: vectors at 0x08000000, .bss in SRAM."""
    _require_toolchain()
    out = tmp_path_factory.mktemp("asm")
    counter = iter(range(10_000))

    def build(source: str) -> Path:
        name = f"prog{next(counter)}"
        src, obj, elf = out / f"{name}.s", out / f"{name}.o", out / f"{name}.elf"
        src.write_text(source)
        subprocess.run(["arm-none-eabi-as", "-mcpu=cortex-m33", "-mthumb", str(src), "-o",
                        str(obj)], check=True, capture_output=True, text=True)
        subprocess.run(["arm-none-eabi-ld", "-e", "0x08000400", "--section-start=.vectors=0x08000000",
                        "-Ttext=0x08000400", "-Tbss=0x20000000", str(obj), "-o", str(elf)],
                       check=True, capture_output=True, text=True)
        return elf

    return build


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `microvisor` command."""
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=timeout,
                          check=False)
