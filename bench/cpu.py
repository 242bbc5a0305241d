"""CPU benchmark: one workload on the virtual device, on bare Unicorn and on QEMU, as one JSON line.

The workload (bench/cpu, our own code in the manner of CoreMark: linked-list find/reverse/merge sort,
integer matrix products, a state machine classifying numbers in text, CRC-32 and CRC-16; no published
benchmark source is vendored) runs BENCH_ITERATIONS iterations, checks its checksum against the one
the host computed (bench/cpu/expected.h) and logs `bench: start …` and `bench: done … ok ticks=N`.
The workload and its driver are compiled once; the same objects are linked twice: cpu.elf (the
Microvisor application at 0x08000000) and cpu_an505.elf (QEMU's mps2-an505 at 0x10000000,
semihosting), so every engine executes the same machine code.

Engines, each timed on the wall clock from the moment the host sees the start line to the moment it
sees the done line (engine start-up and the image loading are not in the figure):

- device: cpu.elf on the device as a user gets it, through the public API (DeviceState, Device,
  the Microvisor kernel, load_firmware), unpaced, no hooks, SysTick interrupting at 1 kHz (an RTOS
  tick). Lines are timed in the log event's callback, which runs on the emulation thread.
- bare_unicorn: cpu.elf on a Unicorn of its own whose memory is mapped exactly as the device's
  Unicorn is: the regions, protections and contents are read from a device that has loaded the
  image (application flash read/execute, SRAM, the exec-only NSC page filled with UDF, every
  peripheral as an MMIO region whose stubs read 0 and ignore writes), with the same exits (the
  system-call entry points). System calls are answered by a stub at those exits (status 0; log lines
  timed there). No device model, so no interrupts: SysTick is written but never fires.
- bare_unicorn_counted: the same bare Unicorn with the device's cycle counter hooked in (the C block
  hook of device/native/instruction_clock.c, never reaching a deadline): what counting the code
  executed costs on its own, the floor under any clock made of instructions on Unicorn.
- qemu: cpu_an505.elf on `qemu-system-arm -M mps2-an505 -cpu cortex-m33` (TCG), SysTick at 1 kHz of
  the board's 20 MHz clock, lines read from QEMU's semihosting output as they arrive on a pipe.
  Left out (null figures) when qemu-system-arm is not installed.

The three are run in turn, REPEATS rounds, and the best (shortest) time of each is kept, so that each
sees the same conditions on a shared host. Figures printed:

- <engine>_iterations_per_s: BENCH_ITERATIONS / best seconds.
- vs_bare_unicorn, vs_bare_unicorn_counted, vs_qemu: the device's iterations/s divided by that
  engine's (1.0 = as fast). counter_cost: 1 - bare_unicorn_counted / bare_unicorn iterations/s.
- interrupt_us: what one interrupt costs the device in wall time. The same image with its SysTick
  rate word (bench_tick_hz) changed from 1 kHz to 50 kHz runs in the same rounds; interrupt_us =
  (best 50 kHz seconds - best 1 kHz seconds) / (interrupts taken at 50 kHz - at 1 kHz), the
  interrupts counted by the firmware's own SysTick handler.
- clock_error: the device's virtual clock against the instructions it executed. One extra run of the
  device at 1 kHz, of COUNTED_ITERATIONS iterations (bench_iterations changed in a copy of the ELF:
  the hook is slow), with a Unicorn block hook of ours that disassembles every block executed with
  Capstone (once per block) and counts its instructions and their cycles by the device's cost model
  (a 16-bit instruction one cycle, a 32-bit one two; an instruction in an IT block whose condition
  fails counts too, as the core spends its cycle on it, though Unicorn's instruction hook skips it;
  a block the device's counter pre-empts with SysTick is not counted until it runs): the
  virtual time between the two lines (the log events' timestamps, less the 2 µs the done line's own
  system call costs) divided by cycles / 160 MHz, minus 1. 0.0 means the clock is exactly the cost
  model applied to the instructions executed.
- instructions_per_iteration and cycles_per_instruction: from that counted run (SysTick handler
  included); device_mips is instructions_per_iteration times the iterations of the best 1 kHz run,
  over that run's seconds.

No silicon comparison is printed: there is no published cycles figure for this workload (a
comparison derived from one instruction per cycle would only restate the cost model).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, CS_MODE_V8, Cs
from elftools.elf.elffile import ELFFile
from unicorn import UC_ARCH_ARM, UC_HOOK_BLOCK, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
from unicorn import arm_const as A

from microvisor.device.firmware import load_firmware
from microvisor.device.instruction_clock import CycleCounter
from microvisor.device.machine import SYSCALL_NS, Device
from microvisor.device.memory_map import APP_FLASH, CORE_HZ, NSC_BASE, SRAM
from microvisor.device.nsc import load_abi
from microvisor.device.state import DeviceState
from microvisor.kernel.microvisor import Microvisor

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "bench-cpu"
REPEATS = 5
TICK_HZ, FAST_TICK_HZ = 1000, 50_000
COUNTED_ITERATIONS = 50  # the run with the (slow) counting hook is shorter: the clock's error is a rate
QEMU = "qemu-system-arm"
QEMU_TIMEOUT_S = 120
START, DONE = "bench: start", "bench: done"
_DONE = re.compile(r"bench: done iterations=(\d+) checksum=0x([0-9a-f]{8}) (ok|bad|unchecked) ticks=(\d+)")


@dataclass
class Run:
    """One run from the start line to the done line."""

    seconds: float  # wall clock
    iterations: int
    ticks: int  # SysTick interrupts the firmware took
    line: str
    virtual_ns: int | None = None  # the device's virtual time between the lines
    instructions: int | None = None  # instructions executed between the lines (counted run only)
    cycles: int | None = None  # their cycles by the cost model (counted run only)


def build() -> tuple[Path, Path]:
    """Both images of bench/cpu: (the Microvisor application, the mps2-an505 image)."""
    subprocess.run(["cmake", "-S", str(ROOT / "bench" / "cpu"), "-B", str(BUILD),
                    f"-DCMAKE_TOOLCHAIN_FILE={ROOT / 'sdk' / 'cmake' / 'arm-none-eabi.cmake'}"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(BUILD)], check=True, capture_output=True)
    return BUILD / "cpu.elf", BUILD / "cpu_an505.elf"


def finished(line: str, seconds: float, engine: str, **extra) -> Run:
    """The run the done line reports; exits when the firmware's checksum was wrong."""
    match = _DONE.fullmatch(line.strip())
    if match is None or match.group(3) == "bad":
        sys.exit(f"bench firmware failed on {engine}: {line!r}")
    return Run(seconds, int(match.group(1)), int(match.group(4)), line, **extra)


def with_words(elf: Path, words: dict[str, int], copy: Path) -> Path:
    """A copy of the ELF with some of its words in flash changed (bench_tick_hz, bench_iterations);
    the code is unchanged."""
    data = bytearray(elf.read_bytes())
    with elf.open("rb") as handle:
        image = ELFFile(handle)
        symbols = image.get_section_by_name(".symtab")
        for name, value in words.items():
            symbol = symbols.get_symbol_by_name(name)[0]
            section = image.get_section(symbol["st_shndx"])
            offset = section["sh_offset"] + symbol["st_value"] - section["sh_addr"]
            data[offset:offset + 4] = value.to_bytes(4, "little")
    copy.write_bytes(data)
    return copy


# --- the device -------------------------------------------------------------------------------------
def device_run(elf: Path, count_instructions: bool = False) -> Run:
    """One run on the virtual device, through the public API, until the firmware's done line."""
    state = DeviceState.open(None)
    device = Device(state)
    Microvisor(device)
    device.load_firmware(load_firmware(elf))
    counted = [0, 0]  # instructions, cycles
    marks: dict[str, tuple[float, int, tuple[int, int], str]] = {}

    def on_event(event) -> None:
        if event.source == "log" and event.kind == "line":
            text = event.data["text"]
            for name in (START, DONE):
                if text.startswith(name):
                    marks[name] = (time.perf_counter(), event.time_ns, (counted[0], counted[1]), text)
            if text.startswith(DONE):
                device.stop("done")

    device.events.subscribe(on_event)
    if count_instructions:
        disassembler = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS | CS_MODE_V8)
        blocks: dict[tuple[int, int], tuple[int, int]] = {}

        def on_block(uc, address, size, user) -> None:
            if uc.reg_read(A.UC_ARM_REG_PC) != address:
                return  # the device's counter took SysTick before this block: it does not run now
            key = (address, size)
            found = blocks.get(key)
            if found is None:
                lengths = [length for _, length, _, _ in disassembler.disasm_lite(
                    bytes(uc.mem_read(address, size)), address)]
                found = blocks[key] = (len(lengths), sum(length // 2 for length in lengths))
            counted[0] += found[0]
            counted[1] += found[1]

        device.cpu.uc.hook_add(UC_HOOK_BLOCK, on_block)
    try:
        result = device.run(timeout_s=3600)
    finally:
        device.close()
        state.close()
    if result.reason != "done" or START not in marks:
        sys.exit(f"bench firmware did not finish on the device: {result.reason}")
    (t0, v0, i0, _), (t1, v1, i1, line) = marks[START], marks[DONE]
    # The done line's time includes its own system call (SYSCALL_NS), which executes no instructions.
    return finished(line, t1 - t0, "the device", virtual_ns=v1 - v0 - SYSCALL_NS,
                    instructions=i1[0] - i0[0] if count_instructions else None,
                    cycles=i1[1] - i0[1] if count_instructions else None)


# --- bare Unicorn -----------------------------------------------------------------------------------
@dataclass
class Layout:
    """The device's Unicorn memory after loading an image: (start, size, protection, contents or None)."""

    regions: list[tuple[int, int, int, bytes | None]]
    exits: list[int]


def device_layout(elf: Path) -> Layout:
    """Read the memory map, protections and contents of a device that has loaded `elf`."""
    state = DeviceState.open(None)
    device = Device(state)
    Microvisor(device)
    device.load_firmware(load_firmware(elf))
    uc = device.cpu.uc
    memory = {APP_FLASH.start, SRAM.start, NSC_BASE}  # RAM; every other region is a peripheral's MMIO
    regions = []
    for begin, end, protection in uc.mem_regions():
        size = end - begin + 1
        contents = bytes(uc.mem_read(begin, size)) if begin in memory else None
        regions.append((begin, size, protection, contents))
    exits = sorted(device.syscalls.addresses)
    device.close()
    state.close()
    return Layout(regions, exits)


def bare_run(elf: Path, layout: Layout, counted: bool = False) -> Run:
    """The same image on a bare Unicorn mapped like the device's; system calls answered by a stub.
    `counted`: with the device's cycle counter hooked in."""
    image = load_firmware(elf)
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
    uc.ctl_set_cpu_model(A.UC_CPU_ARM_CORTEX_M33)
    counter = CycleCounter(uc) if counted else None  # noqa: F841 (kept alive while uc runs)
    for begin, size, protection, contents in layout.regions:
        if contents is None:
            uc.mmio_map(begin, size, lambda uc, offset, size, user: 0, None,
                        lambda uc, offset, size, value, user: None, None)
        else:
            uc.mem_map(begin, size, protection)
            uc.mem_write(begin, contents)
    abi = load_abi()
    uc.ctl_exits_enabled(True)
    uc.ctl_set_exits(layout.exits)
    uc.reg_write(A.UC_ARM_REG_SP, image.initial_sp & ~3)
    pc = image.reset_handler & ~1
    started = None
    while True:
        uc.emu_start(pc | 1, 0)
        pc = uc.reg_read(A.UC_ARM_REG_PC)
        if pc not in abi:
            sys.exit(f"bench firmware stopped at 0x{pc:08x} on bare Unicorn")
        if abi[pc].name == "mvServerLog":
            address, length = uc.reg_read(A.UC_ARM_REG_R0), uc.reg_read(A.UC_ARM_REG_R1) & 0xFFFF
            text = bytes(uc.mem_read(address, length)).decode()
            if text.startswith(START):
                started = time.perf_counter()
            elif text.startswith(DONE) and started is not None:
                return finished(text, time.perf_counter() - started, "bare Unicorn")
        uc.reg_write(A.UC_ARM_REG_R0, 0)
        pc = uc.reg_read(A.UC_ARM_REG_LR) & ~1


# --- QEMU -------------------------------------------------------------------------------------------
def qemu_run(elf: Path) -> Run:
    """The mps2-an505 image on QEMU; its semihosting lines timed as they arrive."""
    argv = [QEMU, "-M", "mps2-an505", "-cpu", "cortex-m33", "-display", "none", "-monitor", "none",
            "-serial", "none", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    started, seen = None, []
    try:
        for line in process.stdout:
            seen.append(line)
            if line.startswith(START):
                started = time.perf_counter()
            elif line.startswith(DONE) and started is not None:
                return finished(line, time.perf_counter() - started, "QEMU")
    finally:
        try:
            process.wait(timeout=QEMU_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    sys.exit(f"bench firmware did not finish on QEMU: {''.join(seen)[-400:]!r}")


# --- all of it --------------------------------------------------------------------------------------
def main() -> None:
    elf, an505 = build()
    qemu = shutil.which(QEMU) is not None
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as folder:
        fast_elf = with_words(elf, {"bench_tick_hz": FAST_TICK_HZ}, Path(folder) / "fast-tick.elf")
        short_elf = with_words(elf, {"bench_iterations": COUNTED_ITERATIONS}, Path(folder) / "short.elf")
        counted = device_run(short_elf, count_instructions=True)
        layout = device_layout(elf)
        runs: dict[str, list[Run]] = {"device": [], "device_fast_tick": [], "bare_unicorn": [],
                                      "bare_unicorn_counted": [], "qemu": []}
        for _ in range(REPEATS):  # in turn, so that every engine sees the same conditions; keep the best
            runs["device"].append(device_run(elf))
            runs["device_fast_tick"].append(device_run(fast_elf))
            runs["bare_unicorn"].append(bare_run(elf, layout))
            runs["bare_unicorn_counted"].append(bare_run(elf, layout, counted=True))
            if qemu:
                runs["qemu"].append(qemu_run(an505))
    best = {name: min(found, key=lambda run: run.seconds) for name, found in runs.items() if found}
    rate = {name: run.iterations / run.seconds for name, run in best.items()}
    slow, fast = best["device"], best["device_fast_tick"]
    assert counted.instructions and counted.cycles and counted.virtual_ns is not None
    model_ns = counted.cycles * 1e9 / CORE_HZ
    per_iteration = counted.instructions / counted.iterations
    print(json.dumps({
        "iterations": slow.iterations,
        "device_iterations_per_s": round(rate["device"], 1),
        "bare_unicorn_iterations_per_s": round(rate["bare_unicorn"], 1),
        "bare_unicorn_counted_iterations_per_s": round(rate["bare_unicorn_counted"], 1),
        "qemu_iterations_per_s": round(rate["qemu"], 1) if qemu else None,
        "vs_bare_unicorn": round(rate["device"] / rate["bare_unicorn"], 3),
        "vs_bare_unicorn_counted": round(rate["device"] / rate["bare_unicorn_counted"], 3),
        "counter_cost": round(1 - rate["bare_unicorn_counted"] / rate["bare_unicorn"], 3),
        "vs_qemu": round(rate["device"] / rate["qemu"], 3) if qemu else None,
        "interrupt_us": round((fast.seconds - slow.seconds) / (fast.ticks - slow.ticks) * 1e6, 2),
        "interrupts": {f"{TICK_HZ}_hz": slow.ticks, f"{FAST_TICK_HZ}_hz": fast.ticks},
        "clock_error": round(counted.virtual_ns / model_ns - 1, 4),
        "instructions_per_iteration": round(per_iteration),
        "cycles_per_instruction": round(counted.cycles / counted.instructions, 3),
        "device_mips": round(per_iteration * slow.iterations / slow.seconds / 1e6, 1),
        "seconds": {name: round(run.seconds, 4) for name, run in best.items()},
        "note": f"wall time from the start line to the done line, best of {REPEATS} rounds, engines in turn; "
                f"device and QEMU with SysTick at {TICK_HZ} Hz; instructions counted by a block hook in "
                "one extra device run" + ("" if qemu else f"; {QEMU} is not installed"),
    }))


if __name__ == "__main__":
    main()
