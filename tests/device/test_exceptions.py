"""The exception model, exercised by small Thumb programs assembled with the real toolchain."""

from __future__ import annotations

import threading

import pytest

from microvisor.device.firmware import load_firmware
from microvisor.device.machine import Device
from microvisor.device.state import DeviceState
from microvisor.kernel.microvisor import Microvisor

LOG = 0x2000_0000  # the programs' .bss: a count word, then the recorded words

# Vector table with handlers named after their exceptions; a program defines what it uses.
VECTORS = """
.syntax unified
.cpu cortex-m33
.thumb
.section .vectors,"a"
.word 0x20010000
.word reset + 1
.word default + 1   @ NMI
.word default + 1   @ HardFault
.word memmanage + 1
.word default + 1   @ BusFault
.word usagefault + 1
.word default + 1   @ SecureFault
.word 0, 0, 0
.word svcall + 1
.word default + 1, 0
.word pendsv + 1
.word systick + 1
.word irq0 + 1, irq1 + 1, irq2 + 1, irq3 + 1
.bss
count: .space 4
entries: .space 124
.text
@ entries[count++] = value, keeping every register (LR too: handlers return through it)
.macro RECORD value
  push {{r0-r3, r12, lr}}
  ldr r0, =\\value
  bl record
  pop {{r0-r3, r12, lr}}
.endm
.thumb_func
record:
  ldr r1, =count
  ldr r2, [r1]
  adds r2, #1
  str r2, [r1]
  add r1, r1, r2, lsl #2
  str r0, [r1]
  bx lr
.thumb_func
default:
  b default
"""

WEAK = {"memmanage", "usagefault", "svcall", "pendsv", "systick", "irq0", "irq1", "irq2", "irq3"}

NVIC_ISER = 0xE000E100
NVIC_ISPR = 0xE000E200
NVIC_IPR = 0xE000E400


def program(body: str) -> str:
    """The vector table, the record helper, and `body`; missing handlers spin in `default`."""
    defined = {line.split(":")[0].strip() for line in body.splitlines() if line.strip().endswith(":")}
    stubs = "".join(f".thumb_func\n{name}:\n  b default\n" for name in sorted(WEAK - defined))
    return VECTORS.format() + stubs + body


def run(assemble, body: str, seconds: float = 0.05) -> tuple[Device, list[int]]:
    elf = assemble(program(body))
    state = DeviceState.open(None)
    device = Device(state)
    Microvisor(device)
    device.load_firmware(load_firmware(elf))
    result = device.run(timeout_s=seconds)
    count = device.cpu.read_u32(LOG)
    entries = [device.cpu.read_u32(LOG + 4 + 4 * i) for i in range(count)]
    device.result = result
    device.close()
    state.close()
    return device, entries


SETUP_IRQS = f"""
  @ priorities: IRQ0 0x80, IRQ1 0x40, IRQ2 0xC0, IRQ3 0x00; enable all four
  ldr r0, ={NVIC_IPR}
  ldr r1, =0x00C04080
  str r1, [r0]
  ldr r0, ={NVIC_ISER}
  movs r1, #0xF
  str r1, [r0]
"""


def test_pending_interrupts_are_taken_in_priority_order(assemble):
    _, log = run(assemble, f"""
.thumb_func
reset:
{SETUP_IRQS}
  cpsid i
  ldr r0, ={NVIC_ISPR}
  movs r1, #7          @ pend IRQ0, IRQ1, IRQ2 together while masked
  str r1, [r0]
  RECORD 0xA
  cpsie i
  isb
  nop
  RECORD 0xB
  b .
.thumb_func
irq0:
  RECORD 0x10
  bx lr
.thumb_func
irq1:
  RECORD 0x11
  bx lr
.thumb_func
irq2:
  RECORD 0x12
  bx lr
""")
    # PRIMASK holds all three back; then the highest priority (IRQ1) first, IRQ2 last.
    assert log == [0xA, 0x11, 0x10, 0x12, 0xB]


def test_higher_priority_interrupt_nests_and_lower_one_waits(assemble):
    _, log = run(assemble, f"""
.thumb_func
reset:
{SETUP_IRQS}
  ldr r0, ={NVIC_ISPR}
  movs r1, #1          @ pend IRQ0 (priority 0x80)
  str r1, [r0]
  dsb
  isb
  nop
  nop
  RECORD 0xE
  b .
.thumb_func
irq0:
  push {{lr}}
  RECORD 0x100
  ldr r0, ={NVIC_ISPR}
  movs r1, #4          @ IRQ2 (0xC0): lower priority, must wait for IRQ0 to finish
  str r1, [r0]
  movs r1, #2          @ IRQ1 (0x40): higher priority, preempts IRQ0 at once
  str r1, [r0]
  dsb
  isb
  nop
  nop
  RECORD 0x101
  pop {{pc}}
.thumb_func
irq1:
  RECORD 0x11
  bx lr
.thumb_func
irq2:
  RECORD 0x12
  bx lr
""")
    assert log == [0x100, 0x11, 0x101, 0x12, 0xE]


def test_basepri_masks_lower_priorities_only(assemble):
    _, log = run(assemble, f"""
.thumb_func
reset:
{SETUP_IRQS}
  movs r0, #0x80
  msr basepri, r0      @ masks priority 0x80 and lower (IRQ0, IRQ2)
  ldr r0, ={NVIC_ISPR}
  movs r1, #3          @ pend IRQ0 (0x80) and IRQ1 (0x40)
  str r1, [r0]
  dsb
  isb
  nop
  nop
  RECORD 0xA
  movs r0, #0
  msr basepri, r0
  isb
  nop
  nop
  nop
  RECORD 0xB
  b .
.thumb_func
irq0:
  RECORD 0x10
  bx lr
.thumb_func
irq1:
  RECORD 0x11
  bx lr
""")
    assert log == [0x11, 0xA, 0x10, 0xB]


def test_exception_returns_to_a_thread_on_the_process_stack(assemble):
    _, log = run(assemble, f"""
.thumb_func
reset:
{SETUP_IRQS}
  ldr r0, =0x20008000
  msr psp, r0
  movs r0, #2
  msr control, r0      @ Thread mode now runs on PSP
  isb
  ldr r0, ={NVIC_ISPR}
  movs r1, #1
  str r1, [r0]
  dsb
  isb
  nop
  nop
  mrs r0, control
  RECORD 0x1
  bl record_r0
  mov r0, sp
  bl record_r0
  mrs r0, psp
  bl record_r0
  b .
record_r0:
  push {{r1, r2, lr}}
  bl record
  pop {{r1, r2, pc}}
.thumb_func
irq0:
  push {{lr}}
  mov r0, lr
  bl record            @ EXC_RETURN
  mrs r0, psp
  bl record            @ the frame went onto the process stack
  mov r0, sp
  bl record            @ the handler runs on the main stack
  pop {{pc}}
""")
    exc_return, psp_in_handler, sp_in_handler, marker, control, sp_after, psp_after = log
    assert exc_return == 0xFFFF_FFBC  # Non-secure, Thread mode, process stack, no FP context
    assert psp_in_handler == 0x2000_8000 - 32
    assert 0x2000_F000 < sp_in_handler <= 0x2001_0000
    assert marker == 1 and control == 2
    assert sp_after == psp_after == 0x2000_8000


def test_svc_receives_its_arguments_and_returns_a_result(assemble):
    _, log = run(assemble, """
.thumb_func
reset:
  movs r0, #10
  movs r1, #20
  movs r2, #30
  movs r3, #40
  svc #42
  bl record            @ r0 after the call: the handler's result
  b .
.thumb_func
svcall:
  tst lr, #4
  ite eq
  mrseq r12, msp
  mrsne r12, psp
  ldr r0, [r12, #0]
  ldr r1, [r12, #4]
  adds r0, r0, r1
  ldr r1, [r12, #8]
  adds r0, r0, r1
  ldr r1, [r12, #12]
  adds r0, r0, r1      @ 100
  ldr r1, [r12, #24]   @ stacked return address, just after the svc instruction
  ldrb r1, [r1, #-2]   @ the SVC number
  adds r0, r0, r1      @ 142
  str r0, [r12, #0]    @ becomes r0 in the caller
  bx lr
""")
    assert log == [142]


def test_app_takes_its_own_usage_fault_when_enabled(assemble):
    device, log = run(assemble, """
.thumb_func
reset:
  ldr r0, =0xE000ED24
  ldr r1, =0x40000     @ SHCSR.USGFAULTENA
  str r1, [r0]
  udf #3
  b .
.thumb_func
usagefault:
  ldr r0, =0xE000ED28
  ldr r0, [r0]         @ CFSR
  bl record
  b .
""")
    assert device.result.reason == "timeout"
    assert log == [1 << 16]  # UNDEFINSTR


def test_fault_inside_a_handler_escalates_to_hardfault(assemble):
    device, log = run(assemble, f"""
.thumb_func
reset:
  ldr r0, =0xE000ED24
  ldr r1, =0x40000     @ UsageFault enabled, at its reset priority 0
  str r1, [r0]
{SETUP_IRQS}
  ldr r0, ={NVIC_ISPR}
  movs r1, #8          @ IRQ3 runs at priority 0 too
  str r1, [r0]
  b .
.thumb_func
irq3:
  RECORD 0x13
  udf #1               @ a UsageFault cannot preempt an exception of equal priority
  bx lr
.thumb_func
usagefault:
  RECORD 0xBAD
  b .
""")
    assert log == [0x13]
    crash = device.result.crash
    assert device.result.reason == "crash" and crash is not None
    assert crash.fault == "UsageFault" and crash.taken_as == "HardFault" and crash.escalated
    assert "UNDEFINSTR" in crash.causes
    assert crash.hfsr & (1 << 30)  # FORCED
    assert crash.instruction.startswith("udf")
    assert crash.registers["xpsr"] & 0x1FF == 16 + 3  # it happened inside IRQ3


@pytest.mark.parametrize("trap, expect_crash", [(True, True), (False, False)])
def test_divide_by_zero_traps_only_with_div_0_trp(assemble, trap, expect_crash):
    setup = """
  ldr r0, =0xE000ED14
  ldr r1, [r0]
  orr r1, r1, #0x10    @ CCR.DIV_0_TRP
  str r1, [r0]
  dsb
  isb
""" if trap else ""
    device, log = run(assemble, f"""
.thumb_func
reset:
{setup}
  movs r4, #7
  movs r5, #0
  sdiv r6, r4, r5
  mov r0, r6
  bl record
  b .
""")
    if expect_crash:
        crash = device.result.crash
        assert crash is not None and "DIVBYZERO" in crash.causes
        assert crash.instruction.startswith("sdiv")
        assert log == []
    else:
        assert device.result.reason == "timeout" and log == [0]


@pytest.mark.parametrize("body, fault, cause, address", [
    ("ldr r0, =0x0C000000\n  ldr r1, [r0]", "SecureFault", "AUVIOL", 0x0C00_0000),
    ("ldr r0, =0x60000000\n  str r0, [r0]", "BusFault", "PRECISERR", 0x6000_0000),
    ("ldr r0, =0x08000400\n  str r0, [r0]", "BusFault", "PRECISERR", 0x0800_0400),
    ("ldr r0, =0x40000001\n  bx r0", "MemManage", "IACCVIOL", 0x4000_0000),
    ("ldr r0, =0x0C1FE105\n  bx r0", "SecureFault", "INVEP", 0x0C1F_E104),  # between entries
    ("ldr sp, =0x1FFFFF00\n  svc #0", "HardFault", "STKERR", None),
])
def test_bad_accesses_end_in_a_crash_record(assemble, body, fault, cause, address):
    device, _ = run(assemble, f"""
.thumb_func
reset:
  {body}
  b .
""")
    crash = device.result.crash
    assert device.result.reason == "crash" and crash is not None, device.result
    assert crash.fault == fault and cause in crash.causes
    if address is not None:
        assert crash.address == address
    assert crash.registers["pc"] or crash.pc
    assert "CRASH" in crash.format()


def test_systick_interrupts_arrive_at_the_programmed_rate(assemble):
    _, log = run(assemble, """
.thumb_func
reset:
  ldr r0, =0xE000E010
  ldr r1, =159999      @ 1 kHz at 160 MHz
  str r1, [r0, #4]
  movs r1, #0
  str r1, [r0, #8]
  movs r1, #7
  str r1, [r0]
1:
  wfi
  b 1b
.thumb_func
systick:
  ldr r1, =count
  ldr r2, [r1]
  adds r2, #1
  str r2, [r1]
  bx lr
""", seconds=0.0505)
    # 50.5 ms of virtual time at 1 kHz; the count word itself is the tick count here. Virtual
    # time is made of the code executed, so the count is exact on any host.
    assert len(log) == 50


def test_a_sleeping_cpu_that_awaits_outside_input_waits_for_it_rather_than_skipping_to_the_end(assemble):
    elf = assemble(program(f"""
.thumb_func
reset:
{SETUP_IRQS}
sleep:
  wfi
  b sleep
.thumb_func
irq0:
  RECORD 0x30
  bx lr
"""))
    state = DeviceState.open(None)
    device = Device(state)
    Microvisor(device)
    device.load_firmware(load_firmware(elf))
    device.awaits_input = True  # nothing is scheduled: only the host can wake it
    woken_at = []
    threading.Timer(0.3, lambda: device.post(lambda: (woken_at.append(device.clock.now_ns()),
                                                      device.set_irq(0), device.set_irq(0, False)))).start()
    threading.Timer(0.6, lambda: device.stop("done")).start()
    result = device.run(timeout_s=5.0)
    taken = device.cpu.read_u32(LOG)
    device.close()
    state.close()
    assert result.reason == "done" and taken == 1
    # Virtual time followed the wall clock while it waited: the input came at about 0.3 s, not 5 s.
    assert 0.2e9 < woken_at[0] < 1.0e9 and result.time_ns < 2e9


VTOR = 0xE000ED08


@pytest.mark.parametrize("body, fault, cause, escalated", [
    # A handler that breaks its own stack pointer before returning: unstacking fails.
    ("""irq0:
  ldr r0, =0x1FFFFF00
  msr msp, r0
  bx lr""", "HardFault", "UNSTKERR", False),
    # A nested handler returning straight to Thread mode while IRQ0 is still active.
    (f"""irq0:
  ldr r0, ={NVIC_ISPR}
  movs r1, #2          @ IRQ1 (0x40) preempts IRQ0 (0x80)
  str r1, [r0]
  isb
  b .
.thumb_func
irq1:
  ldr r0, =0xFFFFFFB8  @ EXC_RETURN: to Thread mode on the main stack
  bx r0""", "UsageFault", "INVPC", True),
    # A vector without its Thumb bit: the handler cannot be entered.
    ("""irq0:
  b .
.thumb_func
irq1:
  b .""", "UsageFault", "INVSTATE", True),
], ids=["unstacking", "nested-return-to-thread", "even-vector"])
def test_exception_entries_and_returns_that_fail_end_in_the_faults_the_core_raises(
        assemble, body, fault, cause, escalated):
    even_vector = "INVSTATE" == cause
    device, _ = run(assemble, f"""
.thumb_func
reset:
{SETUP_IRQS}
  {"bl table_in_ram" if even_vector else ""}
  ldr r0, ={NVIC_ISPR}
  movs r1, #1          @ pend IRQ0
  str r1, [r0]
  isb
  b .
.thumb_func
table_in_ram:          @ a copy of the vector table in SRAM whose IRQ0 entry is even
  ldr r0, =0x20002000
  ldr r1, =0x08000000
  movs r2, #0
1:
  ldr r3, [r1, r2]
  str r3, [r0, r2]
  adds r2, #4
  cmp r2, #80
  bne 1b
  ldr r3, =irq0
  bic r3, r3, #1
  str r3, [r0, #64]
  ldr r1, ={VTOR}
  str r0, [r1]
  dsb
  bx lr
.thumb_func
{body}
""")
    crash = device.result.crash
    assert device.result.reason == "crash" and crash is not None, device.result
    assert crash.fault == fault and cause in crash.causes, crash
    assert crash.escalated == escalated


SYSTICK_10KHZ = """
  ldr r0, =0xE000E010
  ldr r1, =15999       @ 10 kHz at 160 MHz
  str r1, [r0, #4]
  movs r1, #0
  str r1, [r0, #8]
  movs r1, #7          @ enabled, interrupting, processor clock
  str r1, [r0]
"""


def run_traced(assemble, body: str, seconds: float, trace_irq: bool) -> list[int]:
    """`run`, with every interrupt taken by the device loop (trace_irq) or left to the cycle counter."""
    state = DeviceState.open(None)
    device = Device(state)
    Microvisor(device)
    device.load_firmware(load_firmware(assemble(program(body))))
    device.trace_irq = trace_irq
    device.run(timeout_s=seconds)
    entries = [device.cpu.read_u32(LOG + 4 + 4 * i) for i in range(device.cpu.read_u32(LOG))]
    device.close()
    state.close()
    return entries


def test_systick_taken_by_the_cycle_counter_lands_where_the_device_loop_takes_it(assemble):
    # The thread counts in r5; each SysTick records the count it interrupted. Taken inside the
    # emulation by the cycle counter (the usual way) or by the device loop (IRQ tracing on), every
    # tick must interrupt the thread at the same instruction.
    body = f"""
.thumb_func
reset:
{SYSTICK_10KHZ}
  movs r5, #0
1:
  adds r5, #1
  b 1b
.thumb_func
systick:
  RECORD 0
  ldr r1, =count
  ldr r2, [r1]
  add r1, r1, r2, lsl #2
  str r5, [r1]
  bx lr
"""
    native = run_traced(assemble, body, 0.00305, trace_irq=False)
    looped = run_traced(assemble, body, 0.00305, trace_irq=True)
    assert len(native) == 30 and native == looped
    assert native == sorted(native) and len(set(native)) == 30


def test_countflag_and_masked_ticks_while_the_cycle_counter_runs_systick(assemble):
    # The thread polls COUNTFLAG (each wrap sets it once, a read clears it) with SysTick also
    # interrupting; then it masks interrupts across several wraps: one SysTick stays pending and is
    # taken once PRIMASK is cleared, as on the core.
    _, log = run(assemble, f"""
.thumb_func
reset:
{SYSTICK_10KHZ}
  movs r5, #0          @ COUNTFLAG seen set
  movs r6, #0          @ polls
  ldr r0, =0xE000E010
1:
  ldr r1, [r0]
  tst r1, #0x10000
  it ne
  addne r5, #1
  adds r6, #1
  ldr r2, =200000
  cmp r6, r2
  bne 1b
  RECORD 0xC0
  mov r0, r5
  bl record
  ldr r3, =ticks
  ldr r0, [r3]
  bl record
  cpsid i
  ldr r2, =50000
2:
  subs r2, #1
  bne 2b
  ldr r3, =ticks
  ldr r4, [r3]         @ ticks before unmasking
  cpsie i
  isb
  ldr r5, [r3]         @ and after
  RECORD 0xC1
  mov r0, r4
  bl record
  mov r0, r5
  bl record
  b .
.thumb_func
systick:
  ldr r1, =ticks
  ldr r2, [r1]
  adds r2, #1
  str r2, [r1]
  bx lr
.bss
ticks: .space 4
""", seconds=0.05)
    assert log[0] == 0xC0 and log[3] == 0xC1
    flags_seen, ticks = log[1], log[2]
    assert ticks > 10 and flags_seen == ticks  # every wrap's COUNTFLAG seen once, none invented
    before, after = log[4], log[5]
    assert after == before + 1  # several wraps while masked: one SysTick taken on unmasking
