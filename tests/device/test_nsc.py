"""System-call traps: arguments as AAPCS places them, status in r0, unimplemented calls reported once."""

from __future__ import annotations

from microvisor.common.mv_abi import MvStatus
from microvisor.device.firmware import load_firmware
from microvisor.device.machine import Device
from microvisor.device.nsc import SyscallTable
from microvisor.device.state import DeviceState
from microvisor.kernel.microvisor import Microvisor
from tests.device.test_exceptions import LOG, program

NOOP = 0x0C1F_E0D8  # mvNoOp
NOT_YET = SyscallTable().by_name["mvOpenChannel"].address  # unregistered below: the fallback answers it


def test_stacked_arguments_reach_the_handler_and_the_status_comes_back(assemble):
    elf = assemble(program(f"""
.thumb_func
reset:
  movs r0, #4
  movs r1, #5
  push {{r0, r1}}      @ the fifth and sixth arguments: index 4 at [sp], index 5 at [sp, #4]
  movs r0, #0
  movs r1, #1
  movs r2, #2
  movs r3, #3
  ldr r12, ={NOOP | 1}
  blx r12
  add sp, #8
  bl record            @ the status
  ldr r12, ={NOT_YET | 1}
  blx r12
  bl record
  ldr r12, ={NOT_YET | 1}
  blx r12
  bl record
  b .
"""))
    state = DeviceState.open(None)
    device = Device(state)
    Microvisor(device)
    seen, unavailable = [], []
    device.events.subscribe(lambda e: unavailable.append(e) if e.kind == "unavailable" else None)

    def handler(ctx) -> int:
        seen.append([ctx.arg(i) for i in range(6)])
        return 0x1234

    device.syscalls.register("mvNoOp", handler)
    device.syscalls.unregister("mvOpenChannel")
    device.load_firmware(load_firmware(elf))
    device.run(timeout_s=0.01)
    statuses = [device.cpu.read_u32(LOG + 4 + 4 * i) for i in range(device.cpu.read_u32(LOG))]
    device.close()
    state.close()
    assert seen == [[0, 1, 2, 3, 4, 5]]
    assert statuses == [0x1234, MvStatus.UNAVAILABLE, MvStatus.UNAVAILABLE]
    assert [e.data["call"] for e in unavailable] == ["mvOpenChannel"]  # reported once


def test_the_kernel_serves_every_entry_point_of_the_published_abi():
    state = DeviceState.open(None)
    device = Device(state)
    kernel = Microvisor(device)
    try:
        table = device.syscalls
        assert table.served() == set(table.by_name)  # all 72: none left to the UNAVAILABLE fallback
        assert len(table.by_name) == 72
    finally:
        kernel.close()
        device.close()
        state.close()
