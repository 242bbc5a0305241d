"""The virtual STM32U585: CPU, memory, peripherals and storage put together, and the loop that runs it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, CS_MODE_V8, Cs
from unicorn import (
    UC_HOOK_CODE,
    UC_HOOK_MEM_INVALID,
    UC_HOOK_MEM_READ,
    UC_HOOK_MEM_WRITE,
    UC_MEM_FETCH_PROT,
    UC_MEM_FETCH_UNMAPPED,
    UC_MEM_WRITE,
    UC_MEM_WRITE_PROT,
    UC_MEM_WRITE_UNMAPPED,
    UC_PROT_ALL,
    UC_PROT_EXEC,
    UC_PROT_READ,
    UcError,
)

from .bus import EventBus, Peripheral
from .clock import NS_PER_S, VirtualClock
from .cpu import XPSR_T, Cpu, MemoryAccessError
from .exceptions import ExceptionEngine, is_exc_return
from .faults import CrashRecord, Fault, disassemble
from .firmware import FirmwareImage
from .low_power import LowPower
from .memory_map import (
    APP_FLASH,
    NSC_BASE,
    NSC_SIZE,
    SRAM,
    is_secure_address,
)
from .nsc import SyscallTable
from .nvic import (
    BUSFAULT,
    HARDFAULT,
    MEMMANAGE,
    SECUREFAULT,
    SVCALL,
    USAGEFAULT,
    Nvic,
    exception_name,
)
from .peripherals import build_peripherals
from .scs import (
    DIV_0_TRP,
    DIVBYZERO,
    HFSR_DEBUGEVT,
    HFSR_FORCED,
    IACCVIOL,
    IBUSERR,
    INVSTATE,
    NOCP,
    PRECISERR,
    STKOF,
    UNALIGNED,
    UNDEFINSTR,
    Scs,
)
from .instruction_clock import NEVER, CycleCounter
from .state import DeviceState

# Unicorn's (QEMU's) exception numbers as UC_HOOK_INTR reports them.
EXCP_UDEF, EXCP_SWI, EXCP_PREFETCH_ABORT, EXCP_BKPT, EXCP_EXCEPTION_EXIT = 1, 2, 3, 7, 8
EXCP_NOCP, EXCP_INVSTATE, EXCP_STKOF, EXCP_UNALIGNED, EXCP_DIVBYZERO = 17, 18, 19, 22, 23
_USAGE_FAULTS = {
    EXCP_UDEF: UNDEFINSTR, EXCP_NOCP: NOCP, EXCP_INVSTATE: INVSTATE, EXCP_STKOF: STKOF,
    EXCP_UNALIGNED: UNALIGNED, EXCP_DIVBYZERO: DIVBYZERO,
}
WFI, WFE = 0xBF30, 0xBF20
STEP_ATTEMPTS = 100  # a single step that something outside keeps interrupting gives up after these
UDF_FILL = b"\x00\xde"  # fills the NSC page: anything but an entry point is undefined
# What a system call costs in virtual time: the secure gateway, the microvisor's dispatch and the
# return (a modelling choice, ARCHITECTURE.md). Without a cost an application polling a clock call
# would spin millions of times for a millisecond.
SYSCALL_NS = 2_000
PACE_SLICE_NS = 2_000_000  # a paced device looks at the wall clock at least every 2 ms of virtual time

_SCAN = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS | CS_MODE_V8)
_SCAN.detail = True
_SCAN.skipdata = True
_MASK_NAMES = ("primask", "basepri", "faultmask", "control")


class Debugger(Protocol):
    """What the device needs from an attached debugger (the GDB stub)."""

    def stopped(self, reason: str, info: dict[str, Any]) -> str:
        """Called on the emulation thread when the CPU halts; returns 'continue' or 'step'."""


@dataclass
class RunResult:
    """Why `Device.run` returned."""

    reason: str  # "stopped", "timeout", "crash", "killed" (by GDB), "detached" (a program that ended)
    time_ns: int
    crash: CrashRecord | None = None


class Device:
    """A virtual STM32U585 running application machine code from its state's internal flash."""

    def __init__(self, state: DeviceState, paced: bool = False):
        self.state = state
        self.cpu = Cpu()
        self.counter = CycleCounter(self.cpu.uc)
        self.clock = VirtualClock(lambda: self.counter.cycles)
        self.clock.on_change = self._on_schedule
        self.events = EventBus(self.clock)
        self.paced = paced  # virtual time never runs ahead of wall time (else it runs flat out)
        # Whether input from outside may still come (a link, a debugger, a person at the console): a
        # CPU with nothing else to wait for then waits for it in wall time; else it skips to the end.
        self.awaits_input = False
        self._pace_origin = (0, 0.0)  # (virtual ns, wall monotonic s) pacing counts from
        self.nvic = Nvic()
        self.scs = Scs(self, self.nvic, on_change=self._poke, on_reset_request=self._on_sysresetreq,
                       on_ccr_change=self._on_ccr_change)
        self.exceptions = ExceptionEngine(self.cpu, self.nvic, self.scs, self.counter.stop_flag)
        self.syscalls = SyscallTable()
        self.peripherals: list[Peripheral] = [self.scs] + build_peripherals(self, state.backup)
        self.crash: CrashRecord | None = None
        # Called once per crash with its record (the kernel's crash policy). It must park or
        # reset the CPU; returning True makes `run` carry on, False makes it return "crash".
        self.crash_handler: Callable[[CrashRecord], bool] | None = None
        self.debugger: Debugger | None = None
        self.trace_irq = False
        self.breakpoints: set[int] = set()
        self._watchpoints: dict[tuple[int, int, str], int] = {}
        self._div_hooks: list[int] = []
        self._sync_hooks: list[int] = []
        self._recheck = False  # an exception is pending: sync points look whether to take it
        self._ccr_dirty = False
        self._in_slice = False
        self._stopped_by_counter = False
        self._slice_event: tuple | None = None
        self._stop_reason: str | None = None
        self._reset_reason: str | None = None
        self._halt_requested = False
        self._sleeping = False
        self.parked: str | None = None  # why the kernel keeps the CPU off (no application, back-off)
        self._wakeup = threading.Event()
        self.low_power = LowPower(self)
        self._map_memory()
        self._install_hooks()
        self._update_exits()
        self.reset("power-on")

    # --- the DeviceContext offered to peripherals ---------------------------------------------
    def set_irq(self, irqn: int, level: bool = True) -> None:
        self.nvic.set_line(irqn, level)
        if level:
            self._poke()

    def post(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the emulation thread at the next instruction boundary the counter stops
        at (safe from any thread): outside input arrives between blocks, never inside an access."""
        self.clock.schedule(self.clock.now_ns(), callback)
        self.counter.request_stop()
        self._wakeup.set()

    def watchdog_expired(self, detail: str) -> None:
        """The IWDG ran out: a crash of kind "Watchdog" (ignored while the CPU is parked)."""
        if self.parked is None and self.crash is None:
            self._crash(Fault(0, 0, pc=self.cpu.reg("pc"), detail=detail, causes=("IWDG",)),
                        escalated=False, kind="Watchdog")

    # --- memory -------------------------------------------------------------------------------
    def _map_memory(self) -> None:
        uc = self.cpu.uc
        uc.mem_map(APP_FLASH.start, APP_FLASH.size, UC_PROT_READ | UC_PROT_EXEC)
        uc.mem_map(SRAM.start, SRAM.size, UC_PROT_ALL)
        uc.mem_map(NSC_BASE, NSC_SIZE, UC_PROT_EXEC)
        uc.mem_write(NSC_BASE, UDF_FILL * (NSC_SIZE // 2))
        for peripheral in self.peripherals:
            uc.mmio_map(peripheral.base, peripheral.size, self._mmio_read, peripheral,
                        self._mmio_write, peripheral)
        self._refresh_flash()

    def _refresh_flash(self) -> None:
        """Copy the application half of internal flash into the CPU's view of 0x08000000."""
        self.cpu.uc.mem_write(APP_FLASH.start, bytes(self.state.app_flash_view()))
        self._scan_cache: dict[str, list] | None = None
        self._install_sync_hooks()

    def _mmio_read(self, uc, offset: int, size: int, peripheral: Peripheral) -> int:
        return peripheral.read(offset, size) & ((1 << (8 * size)) - 1)

    def _mmio_write(self, uc, offset: int, size: int, value: int, peripheral: Peripheral) -> None:
        peripheral.write(offset, size, value)

    def peripheral_at(self, address: int) -> Peripheral | None:
        for peripheral in self.peripherals:
            if peripheral.base <= address < peripheral.base + peripheral.size:
                return peripheral
        return None

    def bus_read32(self, address: int) -> int:
        """Read a peripheral register as the bus would (for the kernel and debugger)."""
        peripheral = self.peripheral_at(address)
        if peripheral is None:
            raise MemoryAccessError(f"no peripheral at 0x{address:08x}")
        return peripheral.read(address - peripheral.base, 4) & 0xFFFF_FFFF

    def bus_write32(self, address: int, value: int) -> None:
        peripheral = self.peripheral_at(address)
        if peripheral is None:
            raise MemoryAccessError(f"no peripheral at 0x{address:08x}")
        peripheral.write(address - peripheral.base, 4, value & 0xFFFF_FFFF)

    def load_firmware(self, image: FirmwareImage) -> int:
        """Write an application image into internal flash (NOR rules apply); returns writes made."""
        writes = self.state.load_app_image(image.data)
        self._refresh_flash()
        self.reset("power-on")
        return writes

    # --- hooks --------------------------------------------------------------------------------
    def _install_hooks(self) -> None:
        uc = self.cpu.uc
        uc.hook_add(UC_HOOK_MEM_INVALID, self._on_bad_access)
        uc.ctl_exits_enabled(True)

    def _on_bad_access(self, uc, access: int, address: int, size: int, value: int, user) -> bool:
        self._slice_event = ("access", access, address)
        return False

    def _poke(self) -> None:
        """Something may have made an exception deliverable: end the slice, at the next block, to look.

        Called from inside an access: stopping there would make Unicorn execute the access again
        (a second store to NVIC_ISPR or a UART's TDR), so the counter stops before the next block."""
        self._recheck = True
        if self._in_slice:
            self.counter.request_stop()

    def _on_schedule(self) -> None:
        """A timer was scheduled (perhaps by an access in the running slice): stop for it in time.
        Between slices there is nothing to do: the next slice's deadline takes every timer in."""
        if not self._in_slice:
            return
        deadline = self.clock.next_deadline_ns()
        if deadline is not None:
            self.counter.deadline = min(self.counter.deadline, self.clock.cycles_until(deadline))

    def _update_exits(self) -> None:
        self.cpu.uc.ctl_set_exits(self.syscalls.addresses + sorted(self.breakpoints))

    # --- reset --------------------------------------------------------------------------------
    def reset(self, reason: str) -> None:
        """Reset the core and peripherals and start from the vector table at 0x08000000."""
        cpu = self.cpu
        cpu.set_reg("xpsr", XPSR_T)
        cpu.set_reg("control", 0)
        for name in ("primask", "basepri", "faultmask"):
            cpu.set_reg(name, 0)
        for peripheral in self.peripherals:
            peripheral.reset()
        self.scs.vtor = APP_FLASH.start
        if self._div_hooks:
            self._apply_ccr()
        initial_sp = cpu.read_u32(APP_FLASH.start)
        reset_vector = cpu.read_u32(APP_FLASH.start + 4)
        cpu.set_reg("msp", initial_sp & ~3)
        cpu.set_reg("psp", 0)
        for i in range(13):
            cpu.set_reg(f"r{i}", 0)
        cpu.set_reg("lr", 0xFFFF_FFFF)
        cpu.set_reg("pc", reset_vector & ~1)
        self.crash = None
        self._sleeping = False
        self.events.emit("power", "reset", reason=reason)

    def park(self, why: str) -> None:
        """Keep the CPU off (virtual time still runs to the next event) until `unpark`."""
        self.parked = why
        self._poke()

    def unpark(self) -> None:
        self.parked = None

    def assert_wake_pin(self, pin: int) -> None:
        """An active edge on wake pin WKUP`pin` (1..8) from outside (safe from any thread)."""
        self.post(lambda: self.low_power.wake_pin(pin))

    def wait_for_interrupt(self) -> None:
        """Sleep as WFI does once the current system call has returned (mvPowerSave)."""
        self._sleeping = True

    def request_reset(self, reason: str) -> None:
        """Reset the application at the end of the current instruction or system call."""
        self._reset_reason = reason
        self._poke()

    def _on_sysresetreq(self) -> None:
        self.request_reset("sysresetreq")

    # --- running ------------------------------------------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """Make `run` return with `reason` (safe from any thread and from callbacks)."""
        self.post(lambda: self._stop_with(reason))

    def run_posted(self) -> None:
        """Run what is due now, outside input and the microvisor's posted work among it, while the
        CPU is halted for a debugger (virtual time stands still)."""
        self.clock.run_due()

    def request_halt(self) -> None:
        """Halt for the debugger as soon as possible (safe from any thread)."""
        def _set() -> None:
            self._halt_requested = True
        self.post(_set)

    def run(self, timeout_s: float | None = None, halt_first: bool = False) -> RunResult:
        """Run until stopped, crashed or `timeout_s` of virtual time has passed."""
        self._stop_reason = None
        self._restart_pacing()
        timer = None
        if timeout_s is not None:
            timer = self.clock.schedule_in(int(timeout_s * NS_PER_S), lambda: self._stop_with("timeout"),
                                           wakes=False)
        self._halt_requested = halt_first and self.debugger is not None
        try:
            return self._loop()
        finally:
            if timer is not None:
                timer.cancel()

    def _stop_with(self, reason: str) -> None:
        self._stop_reason = self._stop_reason or reason

    def _loop(self) -> RunResult:
        cpu = self.cpu
        while True:
            self.clock.run_due()
            if self._reset_reason is not None:
                reason, self._reset_reason = self._reset_reason, None
                self.reset(reason)
            if self.crash is not None:
                record = self.crash
                if self.crash_handler is not None:
                    self.crash = None  # the handler owns it now: it parks or resets the CPU
                    if self.crash_handler(record):
                        continue
                return RunResult("crash", self.clock.now_ns(), record)
            if self._halt_requested:
                self._halt_requested = False
                if self.debugger is not None:
                    self._debug_stop("interrupt", {})
                self._restart_pacing()
                continue
            if self._stop_reason is not None:
                return RunResult(self._stop_reason, self.clock.now_ns())
            if self.parked is not None:
                self._sleep()
                continue
            if self._ccr_dirty:
                self._apply_ccr()
            self._deliver_pending()
            if self.crash is not None:
                continue
            if self._sleeping:
                if self.nvic.would_wake(*cpu.masks()):
                    self._sleeping = False
                else:
                    self._sleep()
                    continue
            self._pace()
            self._run_slice()

    def _deliver_pending(self) -> None:
        """Take every pending exception that has the priority to preempt."""
        if True not in self.nvic.pending:
            self._recheck = False
            return
        while True:
            number = self.nvic.preempting(*self.cpu.masks())
            if number is None:
                break
            self._sleeping = False
            try:
                self.exceptions.enter(number)
            except Fault as fault:
                self._crash(fault, escalated=True)
                return
            if self.trace_irq:
                self.events.emit("irq", "enter", number=number, name=exception_name(number))
            if True not in self.nvic.pending:
                break
        self._recheck = self.nvic.highest_pending() is not None  # masked: sync points look again

    def _sleep(self) -> None:
        """WFI/WFE (or a parked CPU) with nothing to wake for yet.

        Unpaced, virtual time skips to the next timer. A paced device waits for it in wall time. With
        no timer but a passive one (the run's time limit), or none at all, a device that `awaits_input`
        waits in wall time for it (the link, a debugger, a UART, a wake pin), its virtual time following
        the wall clock, rather than skipping to the end of the run; one that does not skips there.
        """
        now = self.clock.now_ns()
        wake = self.clock.next_deadline_ns(waking=True)
        limit = self.clock.next_deadline_ns()
        if not self.paced and (wake is not None or not self.awaits_input):
            if limit is not None:
                self.clock.advance_to(limit)
            else:  # nothing will ever happen: wait for a stop from another thread
                self._wait_wall(None)
            return
        # Paced, the wait ends when the wall clock reaches the deadline's instant on the pacing line, not
        # a whole interval from now: a device whose virtual time fell behind (a busy host) catches up
        # while it sleeps, rather than falling further behind at every sleep.
        virtual, wall = self._pace_origin
        due_s = None if limit is None else (limit - virtual) / NS_PER_S - (time.monotonic() - wall)
        self._wait_wall(None if due_s is None else max(due_s, 0.0))
        target = max(now, virtual + int((time.monotonic() - wall) * NS_PER_S))
        self.clock.advance_to(target if limit is None else min(target, limit))

    def _wait_wall(self, seconds: float | None) -> float:
        """Wait up to `seconds` of wall time (None: until input) or until outside input; the time waited."""
        started = time.monotonic()
        if seconds is None or seconds > 0:
            self._wakeup.wait(seconds)
        self._wakeup.clear()
        return time.monotonic() - started

    def _restart_pacing(self) -> None:
        self._pace_origin = (self.clock.now_ns(), time.monotonic())

    def _pace(self) -> None:
        """A paced device whose virtual time has run ahead of the wall clock waits for it."""
        if not self.paced:
            return
        virtual, wall = self._pace_origin
        ahead_s = (self.clock.now_ns() - virtual) / NS_PER_S - (time.monotonic() - wall)
        if ahead_s > 0:
            self._wait_wall(ahead_s)

    def _run_slice(self, count: int = 0) -> None:
        cpu = self.cpu
        pc = cpu.reg("pc")
        self._slice_event = None
        self._in_slice = True  # before the deadline is taken: a timer scheduled from now on moves it
        # Interrupts are taken and returned inside the emulation unless someone watches each one.
        in_place = self.debugger is None and not self.trace_irq and count == 0
        self.exceptions.return_in_place = in_place
        systick = self.scs.systick
        if in_place:
            systick.hand_over(self.counter, *self.exceptions.systick_action())
        deadline = self.clock.next_deadline_ns()
        if self.paced:
            pace = self.clock.now_ns() + PACE_SLICE_NS
            deadline = pace if deadline is None else min(deadline, pace)
        self.counter.deadline = NEVER if deadline is None else self.clock.cycles_until(deadline)
        error: UcError | None = None
        try:
            cpu.uc.emu_start(pc | 1, 0, count=count)
        except UcError as exc:
            error = exc
        finally:
            self._in_slice = False
            systick.take_back()
        self._stopped_by_counter = self.counter.took_stop()
        self._after_slice(error, count)

    def _after_slice(self, error: UcError | None, count: int) -> None:
        cpu = self.cpu
        event = self._slice_event
        pc = cpu.reg("pc")
        exception = self.exceptions.take_event()
        if exception is not None:
            intno, failed_return = exception
            if failed_return is not None:  # a return from an exception taken in the emulation
                self._fault(failed_return)
            else:
                self._on_exception_event(intno, pc)
        elif event is not None and event[0] == "access":
            self._fault(self._classify_access(event[1], event[2], pc))
        elif event is not None and event[0] == "div0":
            _, fault_pc, register, value = event
            cpu.set_reg(register, value)  # the division must not have happened
            cpu.set_reg("pc", fault_pc)
            self._fault(Fault(USAGEFAULT, DIVBYZERO, pc=fault_pc))
        elif error is not None:
            self._on_uc_error(error, pc)
        elif pc in self.syscalls.specs:
            self._syscall(pc)
        elif is_secure_address(pc):
            self._fault(self._classify_access(UC_MEM_FETCH_PROT, pc, pc))
        elif pc in self.breakpoints and self.debugger is not None:
            self._debug_stop("breakpoint", {"address": pc})
        elif event is not None and event[0] == "watch":
            if self.debugger is not None:
                self._debug_stop("watchpoint", {"kind": event[1], "address": event[2]})
        elif count == 0 and not self._stopped_by_counter and self._at_sleep_instruction(pc):
            self._sleeping = True

    def _at_sleep_instruction(self, pc: int) -> bool:
        try:
            halfword = int.from_bytes(self.cpu.read(pc - 2, 2), "little")
        except MemoryAccessError:
            return False
        return halfword in (WFI, WFE)

    # --- exceptions, faults and crashes -------------------------------------------------------
    def _on_exception_event(self, intno: int, pc: int) -> None:
        if intno == EXCP_SWI:
            self._synchronous(SVCALL, pc, None)
        elif intno == EXCP_EXCEPTION_EXIT:
            self._exception_return(pc)
        elif intno == EXCP_BKPT:
            if self.debugger is not None:
                self._debug_stop("breakpoint", {"address": pc, "bkpt": True})
            else:
                self.scs.hfsr |= HFSR_DEBUGEVT
                self._crash(Fault(HARDFAULT, 0, pc=pc, detail="BKPT with no debugger attached"),
                            escalated=False)
        elif intno == EXCP_PREFETCH_ABORT:
            self._fault(self._classify_access(UC_MEM_FETCH_PROT, pc, pc))
        elif intno in _USAGE_FAULTS:
            self._fault(self._usage_fault(_USAGE_FAULTS[intno], pc))
        else:
            self._crash(Fault(HARDFAULT, 0, pc=pc, detail=f"unexpected CPU exception {intno}"),
                        escalated=False)

    def _usage_fault(self, cause: int, pc: int) -> Fault:
        if is_secure_address(pc):  # undefined code in the NSC page: a branch between entries
            return self._classify_access(UC_MEM_FETCH_PROT, pc, pc)
        return Fault(USAGEFAULT, cause, pc=pc)

    def _on_uc_error(self, error: UcError, pc: int) -> None:
        if error.errno == 10:  # UC_ERR_INSN_INVALID
            self._fault(self._usage_fault(UNDEFINSTR, pc))
        else:
            self._crash(Fault(HARDFAULT, 0, pc=pc, detail=f"emulation stopped: {error}"),
                        escalated=False)

    def _classify_access(self, access: int, address: int, pc: int) -> Fault:
        fetch = access in (UC_MEM_FETCH_UNMAPPED, UC_MEM_FETCH_PROT)
        verb = "execute" if fetch else (
            "write" if access in (UC_MEM_WRITE_UNMAPPED, UC_MEM_WRITE_PROT) else "read")
        if is_secure_address(address):
            return Fault(SECUREFAULT, 0, address=address, pc=pc,
                         causes=("INVEP",) if fetch else ("AUVIOL",),
                         detail=f"{verb} of secure address 0x{address:08x}")
        if fetch:
            if 0x4000_0000 <= address < 0x6000_0000 or address >= 0xA000_0000:
                return Fault(MEMMANAGE, IACCVIOL, address=address, pc=address,
                             detail=f"execute from non-executable address 0x{address:08x}")
            return Fault(BUSFAULT, IBUSERR, address=address, pc=address,
                         detail=f"execute from 0x{address:08x}: no memory there")
        return Fault(BUSFAULT, PRECISERR, address=address, pc=pc,
                     detail=f"{verb} of 0x{address:08x}: not application memory")

    def _fault(self, fault: Fault) -> None:
        """A synchronous fault: to the application's handler if it may take it, else a crash."""
        self._synchronous(fault.exception, fault.pc if fault.pc is not None else self.cpu.reg("pc"),
                          fault)

    def _synchronous(self, number: int, return_address: int, fault: Fault | None) -> None:
        if fault is not None:
            self.scs.record_fault(fault.cfsr, fault.address)
        if number in (BUSFAULT, SECUREFAULT, HARDFAULT):
            # With AIRCR.BFHFNMINS clear these are Secure exceptions: the microvisor takes them.
            self._crash(fault or Fault(number, 0, pc=return_address), escalated=False)
            return
        enabled = number == SVCALL or self.scs.fault_enabled(number)
        if enabled and self.nvic.can_preempt(number, *self.cpu.masks()):
            self.nvic.set_pending(number)
            try:
                self.exceptions.enter(number, return_address)
            except Fault as stacking:
                self._crash(stacking, escalated=True)
            return
        self.scs.hfsr |= HFSR_FORCED
        self._crash(fault or Fault(number, 0, pc=return_address,
                                   detail=f"{exception_name(number)} with insufficient priority"),
                    escalated=True)

    def _exception_return(self, exc_return: int) -> None:
        try:
            self.exceptions.exit(exc_return)
        except Fault as fault:
            self._fault(fault)
        if self.trace_irq:
            self.events.emit("irq", "exit", exc_return=exc_return)

    def _crash(self, fault: Fault, escalated: bool, kind: str | None = None) -> None:
        cpu = self.cpu
        registers = cpu.snapshot()
        pc = fault.pc if fault.pc is not None else registers["pc"]
        try:
            instruction = disassemble(cpu.read(pc & ~1, 4), pc & ~1)
        except MemoryAccessError:
            instruction = "<no memory at pc>"
        frame = {name: registers[name] for name in ("r0", "r1", "r2", "r3", "r12", "lr")}
        frame.update(pc=pc, xpsr=registers["xpsr"])
        name = kind or exception_name(fault.exception)
        self.crash = CrashRecord(
            fault=name, taken_as="HardFault" if escalated else name,
            causes=fault.causes, address=fault.address, pc=pc, instruction=instruction,
            registers=registers, stacked_frame=frame, cfsr=self.scs.cfsr, hfsr=self.scs.hfsr,
            time_ns=self.clock.now_ns(), detail=fault.detail, escalated=escalated,
        )
        self.events.emit("fault", "crash", record=self.crash)
        if self.debugger is not None:
            self._debug_stop("crash", {"record": self.crash})

    # --- system calls -------------------------------------------------------------------------
    def _syscall(self, address: int) -> None:
        cpu = self.cpu
        if not cpu.reg("xpsr") & XPSR_T:
            self._fault(Fault(USAGEFAULT, INVSTATE, pc=address,
                              detail="system call entered in ARM state (address without bit 0)"))
            return
        lr = cpu.reg("lr")
        self.clock.advance_to(self.clock.now_ns() + SYSCALL_NS)
        status = self.syscalls.dispatch(self, address)
        cpu.set_reg("r0", status)
        if self._reset_reason is not None or self.crash is not None:
            return
        if is_exc_return(lr):
            self._exception_return(lr)
        elif not lr & 1:
            self._fault(Fault(USAGEFAULT, INVSTATE, pc=lr, detail="return address without bit 0"))
        else:
            cpu.set_reg("pc", lr & ~1)

    # --- DIV_0_TRP: Unicorn divides by zero quietly, so divisions are watched while it is set --
    def _on_ccr_change(self, ccr: int) -> None:
        """CCR was written (inside an access): the division hooks change between slices."""
        self._ccr_dirty = True
        self._poke()

    def _apply_ccr(self) -> None:
        uc = self.cpu.uc
        self._ccr_dirty = False
        for handle in self._div_hooks:
            uc.hook_del(handle)
        self._div_hooks = []
        if self.scs.ccr & DIV_0_TRP:
            for address, size, registers in self._scan()["div"]:
                self._div_hooks.append(uc.hook_add(UC_HOOK_CODE, self._on_division, registers,
                                                   address, address + size - 1))
        uc.ctl_flush_tb()  # blocks translated before the change carry no hooks

    def _scan(self) -> dict[str, list]:
        """Facts about the application's code that Unicorn needs help with, found once per image.

        `div`: every SDIV/UDIV (address, size, (destination, divisor)) for DIV_0_TRP;
        `sync`: the address after every instruction that may unmask an exception or that is a
        barrier (CPSIE, MSR to a mask register or CONTROL, ISB, DSB): a pending exception that
        became deliverable there is taken before the next instruction, as on the real core.
        """
        if self._scan_cache is None:
            code = bytes(self.state.app_flash_view()).rstrip(b"\xff")
            divisions, sync = [], []
            for insn in _SCAN.disasm(code, APP_FLASH.start):
                mnemonic = insn.mnemonic
                if mnemonic in ("sdiv", "udiv") and len(insn.operands) == 3:
                    divisions.append((insn.address, insn.size, tuple(
                        _register_name(_SCAN.reg_name(op.reg)) for op in insn.operands[::2])))
                elif mnemonic in ("cpsie", "isb", "dsb") or (
                        mnemonic == "msr" and any(name in insn.op_str for name in _MASK_NAMES)):
                    sync.append(insn.address + insn.size)
            self._scan_cache = {"div": divisions, "sync": sync}
        return self._scan_cache

    def _install_sync_hooks(self) -> None:
        uc = self.cpu.uc
        for handle in self._sync_hooks:
            uc.hook_del(handle)
        self._sync_hooks = [uc.hook_add(UC_HOOK_CODE, self._on_sync_point, None, address, address)
                            for address in self._scan()["sync"]]

    def _on_sync_point(self, uc, address: int, size: int, user) -> None:
        if self._ccr_dirty or (
                self._recheck and self.nvic.preempting(*self.cpu.masks()) is not None):
            uc.emu_stop()

    def _on_division(self, uc, address: int, size: int, registers: tuple[str, str]) -> None:
        destination, divisor = registers
        if self.cpu.reg(divisor) == 0:
            self._slice_event = ("div0", address, destination, self.cpu.reg(destination))
            uc.emu_stop()

    # --- debugging ----------------------------------------------------------------------------
    def _debug_stop(self, reason: str, info: dict[str, Any]) -> str:
        """Hand control to the debugger until it resumes; single steps happen here."""
        assert self.debugger is not None
        while True:
            action = self.debugger.stopped(reason, info)
            if action != "step":
                return action
            reason, info = self.step(), {}

    def step(self) -> str:
        """Execute one instruction (interrupts stay masked while stepping, as probes do)."""
        pc = self.cpu.reg("pc")
        if pc in self.breakpoints:
            self.cpu.uc.ctl_set_exits(self.syscalls.addresses)
        debugger, self.debugger = self.debugger, None
        try:
            if pc in self.syscalls.specs:
                self._syscall(pc)
            else:
                # A stop request (input from another thread, the link's work) or a timer falling due
                # ends a slice before its first block: deal with those, and step again.
                for _ in range(STEP_ATTEMPTS):
                    self.clock.run_due()
                    self.counter.cancel_stop()
                    self._run_slice(count=1)
                    if not self._stopped_by_counter or self.cpu.reg("pc") != pc:
                        break
        finally:
            self.debugger = debugger
            if pc in self.breakpoints:
                self._update_exits()
        return "crash" if self.crash is not None else "step"

    def resume_from_breakpoint(self) -> None:
        """Step past a breakpoint at the current PC so that continuing does not stop there again."""
        if self.cpu.reg("pc") in self.breakpoints:
            self.step()

    def set_breakpoint(self, address: int) -> None:
        self.breakpoints.add(address & ~1)
        self._update_exits()
        # Unicorn looks at exits as it translates: code translated before (an application that has
        # been running) must be translated again to stop there.
        self.cpu.uc.ctl_remove_cache(address & ~1, (address & ~1) + 4)

    def clear_breakpoint(self, address: int) -> None:
        self.breakpoints.discard(address & ~1)
        self._update_exits()
        self.cpu.uc.ctl_remove_cache(address & ~1, (address & ~1) + 4)

    def set_watchpoint(self, address: int, length: int, kind: str) -> None:
        """Stop after an access to [address, address+length): kind 'r', 'w' or 'a'."""
        key = (address, length, kind)
        if key in self._watchpoints:
            return
        types = {"r": UC_HOOK_MEM_READ, "w": UC_HOOK_MEM_WRITE,
                 "a": UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE}[kind]
        self._watchpoints[key] = self.cpu.uc.hook_add(
            types, self._on_watch, kind, address, address + max(length, 1) - 1)

    def clear_watchpoint(self, address: int, length: int, kind: str) -> None:
        handle = self._watchpoints.pop((address, length, kind), None)
        if handle is not None:
            self.cpu.uc.hook_del(handle)

    def _on_watch(self, uc, access: int, address: int, size: int, value: int, kind: str) -> None:
        if self.debugger is None:
            return
        self._slice_event = ("watch", "w" if access == UC_MEM_WRITE else "r", address)
        uc.emu_stop()

    def close(self) -> None:
        self.state.flush()


_ALIASES = {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12"}


def _register_name(capstone_name: str) -> str:
    """Capstone's name for a core register, as `Cpu.reg` knows it."""
    return _ALIASES.get(capstone_name, capstone_name)
