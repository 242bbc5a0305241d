"""Delta benchmark: the bytes an update ships, as whole layers and as a patch, beside bsdiff4, as JSON.

One run on this host. The workload is an application of the bench's own, generated here: N functions
of loops, branches and switch statements with constants of their own (no published source is vendored),
built with the SDK (sdk/cmake/microvisor_app.cmake, arm-none-eabi-gcc -Os) into an image of about
180 KiB (1,400 functions), in three versions:

- base: the application as it is;
- one_function: one constant changed in the middle function (the code of one function changes, nothing
  moves);
- code_moved: a new function placed first, so every function after it moves and every call and literal
  address that names them changes.

Each version is bundled as `microvisor apps bundle` bundles it (common/bundle.py `build_app`), once with
the default layer (the whole image in one) and once with 8 KiB layers. For base → each other version:

- layers_default / layers_8k: the bytes of the target's layers the base lacks (what the update client
  fetches without a patch; the same layer twice counts once);
- patch: the size of the patch the service makes (common/delta.py: detools, sequential, lzma) from the
  base's source image (its layers as its flash regions hold them) to the target's changed layer, what the
  device fetches with the default layer; make_s and apply_s are the time to make it (service) and apply
  it (device side, on this host) with perf_counter, the best of 3;
- bsdiff4: the peer, bsdiff4.diff(base image, target image) (bz2), its size and make/apply times the
  same way.

Shares are of the target's image size. Targets (issue 14): a one-function change ships at most 1% of the
image, a code-moving change at most 2%; `meets_targets` says whether the patch does.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import bsdiff4

from microvisor.common import delta
from microvisor.common.bundle import Bundle, build_app
from microvisor.device.firmware import load_firmware

ROOT = Path(__file__).resolve().parent.parent
TOOLCHAIN = ROOT / "sdk" / "cmake" / "arm-none-eabi.cmake"
VERSIONS = ("base", "one_function", "code_moved")
SMALL_LAYER = 8192
TARGETS = {"one_function": 0.01, "code_moved": 0.02}


def source(functions: int, version: str) -> str:
    """The generated application's C source for one version."""
    rng = random.Random(7)  # the same functions and constants in every version
    lines = ['#include "mv_syscalls.h"', "#include <stdint.h>", "volatile uint32_t sink;"]
    if version == "code_moved":
        lines.append("uint32_t inserted(uint32_t x) { uint32_t a = x; for (int i = 0; i < 40; i++) "
                     "{ a = a * 2654435761u + i; a ^= a >> 13; sink += a; } return a; }")
    for index in range(functions):
        k = [rng.randrange(1, 1 << 30) for _ in range(6)]
        multiplier = k[2] + 2 if version == "one_function" and index == functions // 2 else k[2]
        lines.append(
            f"uint32_t f{index}(uint32_t x) {{ uint32_t a = x ^ {k[0]}u, b = {k[1]}u; "
            f"for (int j = 0; j < (int)(x & 7) + {index % 5 + 2}; j++) {{ a = a * {multiplier}u + b; "
            f"b ^= a >> {k[3] % 31 + 1}; if (a & {1 << (index % 16)}u) sink += b; else sink ^= a + {k[4]}u; "
            f"switch ((a >> 3) & 3) {{ case 0: b += {k[5]}u; break; case 1: b = b * 3 + 1; break; "
            f"default: a ^= b; }} }} return a + b; }}")
    lines.append("int main(void) { uint32_t s = 0;")
    if version == "code_moved":
        lines.append("  s += inserted(s);")
    lines += [f"  s += f{index}(s);" for index in range(functions)]
    lines.append("  sink = s; for (;;) { __asm volatile(\"wfi\"); } }")
    return "\n".join(lines) + "\n"


def build(folder: Path, functions: int) -> dict[str, bytes]:
    """Each version's image (the ELF's loadable bytes), built with the SDK."""
    folder.mkdir(parents=True, exist_ok=True)
    for version in VERSIONS:
        (folder / f"{version}.c").write_text(source(functions, version))
    (folder / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20)\n"
        f"include({ROOT / 'sdk' / 'cmake' / 'resolve_toolchain.cmake'})\n"
        "project(delta_bench C ASM)\nset(CMAKE_BUILD_TYPE MinSizeRel)\n"
        f"include({ROOT / 'sdk' / 'cmake' / 'microvisor_app.cmake'})\n"
        + "".join(f"microvisor_app({version} {version}.c)\n" for version in VERSIONS))
    out = folder / "out"
    for command in (["cmake", "-S", str(folder), "-B", str(out), f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN}"],
                    ["cmake", "--build", str(out)]):
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode:
            sys.exit(f"building the workload failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")
    return {version: load_firmware(out / f"{version}.elf").data for version in VERSIONS}


def best(work: Callable[[], object], runs: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def changed_bytes(base: Bundle, target: Bundle) -> int:
    return sum(len(data) for digest, data in target.layers.items() if digest not in base.layers)


def source_of(bundle: Bundle) -> bytes:
    return delta.source_image([(bundle.layer(layer.fetch_hash), layer.target.internal_flash.size)
                               for layer in bundle.app_body().layers])


def measure(images: dict[str, bytes]) -> dict:
    whole = {version: build_app(image) for version, image in images.items()}
    small = {version: build_app(image, layer_size=SMALL_LAYER) for version, image in images.items()}
    figures: dict = {version: compare(images["base"], images[version], whole["base"], whole[version],
                                      changed_bytes(small["base"], small[version]), TARGETS[version])
                     for version in VERSIONS[1:]}
    figures["meets_targets"] = all(figures[v]["patch"]["share"] <= TARGETS[v] for v in TARGETS)
    return figures


def compare(old: bytes, new: bytes, base: Bundle, target: Bundle, layers_8k: int,
            target_share: float) -> dict:
    """One update's figures: whole layers, our patch, bsdiff4."""
    size = len(new)
    [(digest, layer)] = target.layers.items()
    make_s, patch = best(lambda: delta.make(source_of(base), layer))
    apply_s, made = best(lambda: delta.apply(source_of(base), patch, len(layer), digest))
    assert made == layer
    peer_make_s, peer = best(lambda: bsdiff4.diff(old, new))
    peer_apply_s, peer_made = best(lambda: bsdiff4.patch(old, peer))
    assert peer_made == new
    layers_default = changed_bytes(base, target)
    return {
        "image_bytes": size,
        "layers_default": {"bytes": layers_default, "share": round(layers_default / size, 5)},
        "layers_8k": {"bytes": layers_8k, "share": round(layers_8k / size, 5)},
        "patch": {"bytes": len(patch), "share": round(len(patch) / size, 5), "make_s": round(make_s, 4),
                  "apply_s": round(apply_s, 4)},
        "bsdiff4": {"bytes": len(peer), "share": round(len(peer) / size, 5), "make_s": round(peer_make_s, 4),
                    "apply_s": round(peer_apply_s, 4)},
        "patch_vs_bsdiff4_bytes": round(len(patch) / len(peer), 3),
        "target_share": target_share,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=1400, help="functions in the generated app")
    parser.add_argument("--build", type=Path, default=ROOT / "build" / "bench-deltas")
    options = parser.parse_args(argv)
    figures = measure(build(options.build, options.functions))
    print(json.dumps({"bench": "deltas", "functions": options.functions, **figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
