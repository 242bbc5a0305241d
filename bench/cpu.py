"""CPU benchmark: the virtual device against the real part and against bare Unicorn, as one JSON line.

Builds bench/cpu (CRC, matrix multiply, sort, state machine; checksum checked by the firmware),
then: one counted calibration run on the device (a block hook counts every instruction executed),
timed runs on the device as a user gets it (SysTick at 1 kHz, no hooks), and timed runs of the same
image on a bare Unicorn instance with no device model: alternated, best of REPEATS for each.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
from pathlib import Path

from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, CS_MODE_V8, Cs
from unicorn import (
    UC_ARCH_ARM,
    UC_HOOK_BLOCK,
    UC_MODE_MCLASS,
    UC_MODE_THUMB,
    UC_PROT_ALL,
    UC_PROT_EXEC,
    Uc,
)
from unicorn import arm_const as A

from microvisor.device.firmware import load_firmware
from microvisor.device.machine import Device
from microvisor.device.memory_map import APP_FLASH, CORE_HZ, NSC_BASE, NSC_SIZE, SRAM
from microvisor.device.nsc import load_abi
from microvisor.device.state import DeviceState
from microvisor.kernel.microvisor import Microvisor

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "bench-cpu"
REPEATS = 5
DONE = "bench: done"


def build() -> Path:
    subprocess.run(["cmake", "-S", str(ROOT / "bench" / "cpu"), "-B", str(BUILD),
                    f"-DCMAKE_TOOLCHAIN_FILE={ROOT / 'sdk' / 'cmake' / 'arm-none-eabi.cmake'}"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(BUILD)], check=True, capture_output=True)
    return BUILD / "cpu.elf"


def device_run(elf: Path, count_instructions: bool) -> tuple[float, int, str]:
    """One run on the virtual device until the firmware logs its verdict."""
    state = DeviceState.open(None)
    device = Device(state)
    Microvisor(device)
    device.load_firmware(load_firmware(elf))
    verdict = []

    def on_event(event) -> None:
        if event.source == "log" and event.data["text"].startswith(DONE):
            verdict.append(event.data["text"])
            device.stop("done")

    device.events.subscribe(on_event)
    counted = [0]
    if count_instructions:
        disassembler = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS | CS_MODE_V8)
        sizes: dict[tuple[int, int], int] = {}

        def on_block(uc, address, size, user) -> None:
            key = (address, size)
            n = sizes.get(key)
            if n is None:
                n = sizes[key] = sum(1 for _ in disassembler.disasm_lite(
                    bytes(uc.mem_read(address, size)), address))
            counted[0] += n

        device.cpu.uc.hook_add(UC_HOOK_BLOCK, on_block)
    started = time.perf_counter()
    result = device.run(timeout_s=600)
    seconds = time.perf_counter() - started
    device.close()
    state.close()
    if result.reason != "done":
        sys.exit(f"bench firmware did not finish on the device: {result.reason}")
    return seconds, counted[0], verdict[0]


def bare_run(elf: Path) -> float:
    """The same image on Unicorn with no device model: plain RAM for the System Control Space,
    system calls answered 0, stopped when the verdict is logged."""
    image = load_firmware(elf)
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
    uc.ctl_set_cpu_model(A.UC_CPU_ARM_CORTEX_M33)
    uc.mem_map(APP_FLASH.start, APP_FLASH.size, UC_PROT_ALL)
    uc.mem_write(APP_FLASH.start, image.data)
    uc.mem_map(SRAM.start, SRAM.size, UC_PROT_ALL)
    uc.mem_map(0xE000_E000, 0x1000, UC_PROT_ALL)
    uc.mem_map(NSC_BASE, NSC_SIZE, UC_PROT_EXEC)
    abi = load_abi()
    uc.ctl_exits_enabled(True)
    uc.ctl_set_exits(sorted(abi))
    initial_sp, reset = struct.unpack_from("<II", image.data)
    uc.reg_write(A.UC_ARM_REG_SP, initial_sp)
    pc = reset
    started = time.perf_counter()
    while True:
        uc.emu_start(pc | 1, 0)
        pc = uc.reg_read(A.UC_ARM_REG_PC)
        if pc not in abi:
            sys.exit(f"bare run stopped at 0x{pc:08x}")
        if abi[pc].name == "mvServerLog":
            address, length = uc.reg_read(A.UC_ARM_REG_R0), uc.reg_read(A.UC_ARM_REG_R1)
            if bytes(uc.mem_read(address, length & 0xFFFF)).startswith(DONE.encode()):
                return time.perf_counter() - started
        uc.reg_write(A.UC_ARM_REG_R0, 0)
        pc = uc.reg_read(A.UC_ARM_REG_LR) & ~1


def main() -> None:
    elf = build()
    _, instructions, verdict = device_run(elf, count_instructions=True)
    if not verdict.endswith(" ok"):
        sys.exit(f"bench firmware computed a wrong checksum: {verdict}")
    # Alternate the two so that both see the same conditions on a shared host; keep the best.
    device_times, bare_times = [], []
    for _ in range(REPEATS):
        device_times.append(device_run(elf, count_instructions=False)[0])
        bare_times.append(bare_run(elf))
    device_s, bare_s = min(device_times), min(bare_times)
    mips = instructions / device_s / 1e6
    print(json.dumps({
        "instructions": instructions,
        "seconds": round(device_s, 4),
        "mips": round(mips, 1),
        "vs_160mhz": round(mips / (CORE_HZ / 1e6), 3),
        "vs_bare_unicorn": round(bare_s / device_s, 3),
        "bare_unicorn_seconds": round(bare_s, 4),
        "note": "instructions counted once on the device (SysTick handler included); "
                f"seconds: best of {REPEATS} wall-clock runs to the firmware's verdict, "
                "device and bare runs alternated",
    }))


if __name__ == "__main__":
    main()
