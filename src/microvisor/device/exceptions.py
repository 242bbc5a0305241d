"""Exception entry and return (Unicorn has no NVIC): the native code's steps, their failures as faults.

The stacking, EXC_RETURN and unstacking are done in C (native/exceptions.c) on Unicorn's registers
and memory and on the NVIC's flag arrays; a return from an exception is taken inside Unicorn's
interrupt hook without ending the emulation. This module hooks that code in, calls it, and turns
what it reports into the faults the core raises.
"""

from __future__ import annotations

import ctypes

from unicorn import UC_HOOK_INTR
from unicorn import arm_const as A

from . import native_library
from .cpu import Cpu
from .faults import Fault
from .memory_map import SRAM
from .nvic import HARDFAULT, USAGEFAULT, Nvic
from .scs import INVPC, INVSTATE, STKERR, UNSTKERR, Scs

FRAME_SIZE = 32
NO_EXCEPTION = -1
# The registers the native code reads and writes, in the order of its enum.
_REGISTERS = (A.UC_ARM_REG_R0, A.UC_ARM_REG_R1, A.UC_ARM_REG_R2, A.UC_ARM_REG_R3, A.UC_ARM_REG_R12,
              A.UC_ARM_REG_LR, A.UC_ARM_REG_PC, A.UC_ARM_REG_XPSR, A.UC_ARM_REG_CONTROL,
              A.UC_ARM_REG_MSP, A.UC_ARM_REG_PSP, A.UC_ARM_REG_FAULTMASK, A.UC_ARM_REG_PRIMASK,
              A.UC_ARM_REG_BASEPRI)
# Failure codes of native/exceptions.c.
STACKING, VECTOR_UNREADABLE, VECTOR_NOT_THUMB = 1, 2, 3
NOT_ACTIVE, STILL_NESTED, UNSTACKING, IPSR_MISMATCH = 1, 2, 3, 4


def is_exc_return(value: int) -> bool:
    return value >= 0xFF00_0000


class _Core(ctypes.Structure):
    _fields_ = [("reg_read", ctypes.c_void_p), ("reg_write", ctypes.c_void_p),
                ("mem_read", ctypes.c_void_p), ("mem_write", ctypes.c_void_p),
                ("emu_stop", ctypes.c_void_p), ("regs", ctypes.c_int32 * len(_REGISTERS)),
                ("pending", ctypes.c_void_p), ("active", ctypes.c_void_p), ("lines", ctypes.c_void_p),
                ("order", ctypes.c_void_p), ("exceptions", ctypes.c_uint32),
                ("stop", ctypes.c_void_p), ("ram_start", ctypes.c_uint32), ("ram_end", ctypes.c_uint32),
                ("vtor", ctypes.c_uint32),
                ("return_in_place", ctypes.c_int32), ("intno", ctypes.c_int32),
                ("failure", ctypes.c_int32), ("info", ctypes.c_uint32 * 2)]


class ExceptionEngine:
    """Takes exceptions into the application's handlers and returns from them."""

    def __init__(self, cpu: Cpu, nvic: Nvic, scs: Scs, stop_flag: int):
        """`stop_flag`: the address of the cycle counter's stop flag (a return that leaves an
        exception pending sets it, so the device looks before the next block)."""
        self.cpu = cpu
        self.nvic = nvic
        self.scs = scs
        library = native_library.load("exceptions")
        self._enter = library.mv_exception_enter
        self._enter.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                                ctypes.c_int32, ctypes.c_uint32]
        self._return = library.mv_exception_return
        self._return.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32]
        # The flag arrays stay pinned (bytearrays cannot be resized while exported) for as long
        # as the native code holds pointers to them.
        self._pinned = [(ctypes.c_uint8 * len(flags)).from_buffer(flags)
                        for flags in (nvic.pending, nvic.active, nvic.lines, nvic.order)]
        pending, active, lines, order = (ctypes.addressof(flags) for flags in self._pinned)
        function = native_library.unicorn_function
        self._core = _Core(
            reg_read=function("uc_reg_read"), reg_write=function("uc_reg_write"),
            mem_read=function("uc_mem_read"), mem_write=function("uc_mem_write"),
            emu_stop=function("uc_emu_stop"), regs=(ctypes.c_int32 * len(_REGISTERS))(*_REGISTERS),
            pending=pending, active=active, lines=lines, order=order, exceptions=len(nvic.pending),
            stop=stop_flag, ram_start=SRAM.start, ram_end=SRAM.end, return_in_place=1,
            intno=NO_EXCEPTION)
        self._core_ref = ctypes.byref(self._core)
        self._core_address = ctypes.addressof(self._core)
        self._uch = cpu.uc._uch
        self._systick = ctypes.cast(library.mv_exception_systick, ctypes.c_void_p).value
        native_library.hook(cpu.uc, UC_HOOK_INTR, library.mv_exceptions_intr, self._core)

    @property
    def return_in_place(self) -> bool:
        """Whether returns from exceptions are taken inside the emulation (else they stop it)."""
        return bool(self._core.return_in_place)

    @return_in_place.setter
    def return_in_place(self, value: bool) -> None:
        self._core.return_in_place = int(value)

    def systick_action(self) -> tuple[int, int]:
        """(the C function, its argument) that pends SysTick and takes it when nothing stands in its
        way, for the cycle counter to call at SysTick's wrap (the vector table as it is now)."""
        self._core.vtor = self.scs.vtor
        return self._systick, self._core_address

    def take_event(self) -> tuple[int, Fault | None] | None:
        """The CPU exception that ended the last run of the emulation, if one did, with the fault
        of a return that failed inside the emulation (and forget both)."""
        core = self._core
        if core.intno == NO_EXCEPTION:
            return None
        intno, failure, exc_return = core.intno, core.failure, core.info[1]
        core.intno, core.failure = NO_EXCEPTION, 0
        return intno, (self._return_fault(failure, exc_return) if failure else None)

    def enter(self, number: int, return_address: int | None = None) -> None:
        """Stack the context, switch to Handler mode on the main stack, branch to the vector; the
        exception returns to `return_address` (None: where the core is now).

        Raises Fault (STKERR) when the stack cannot take the frame.
        """
        at_pc = return_address is None
        failure = self._enter(self._uch, self._core_ref, number, 0 if at_pc else return_address, at_pc,
                              self.scs.vtor)
        if not failure:
            return
        info = self._core.info
        if failure == STACKING:
            sp, frame_sp = info[0], (info[0] - FRAME_SIZE) & ~7 & 0xFFFF_FFFF
            raise Fault(HARDFAULT, STKERR, address=frame_sp, pc=info[1],
                        detail=f"stacking for {number} failed: sp 0x{sp:08x} is not in SRAM")
        if failure == VECTOR_UNREADABLE:
            raise Fault(HARDFAULT, 0, address=info[0], pc=info[1],
                        detail=f"vector table read failed for exception {number}")
        raise Fault(USAGEFAULT, INVSTATE, pc=info[0],
                    detail=f"vector {number} is 0x{info[0]:08x}, not a Thumb address")

    def exit(self, exc_return: int) -> int:
        """Return from the active exception as `exc_return` asks; gives the PC to resume at."""
        failure = self._return(self._uch, self._core_ref, exc_return)
        if failure:
            raise self._return_fault(failure, exc_return)
        return self._core.info[0]

    def _return_fault(self, failure: int, exc_return: int) -> Fault:
        if failure == NOT_ACTIVE:
            return Fault(USAGEFAULT, INVPC, pc=exc_return,
                         detail=f"EXC_RETURN 0x{exc_return:08x} outside an active exception")
        if failure == STILL_NESTED:
            return Fault(USAGEFAULT, INVPC, pc=exc_return,
                         detail="return to Thread mode with exceptions still active")
        if failure == UNSTACKING:
            sp = self._core.info[0]
            return Fault(HARDFAULT, UNSTKERR, address=sp, pc=exc_return,
                         detail=f"unstacking failed: sp 0x{sp:08x} is not in SRAM")
        return Fault(USAGEFAULT, INVPC, pc=exc_return,
                     detail=f"EXC_RETURN 0x{exc_return:08x} does not match the stacked IPSR")
