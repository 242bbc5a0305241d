"""Exception entry and return by hand (Unicorn has no NVIC): stacking, EXC_RETURN, unstacking."""

from __future__ import annotations

import struct

from .cpu import CONTROL_SPSEL, XPSR_T, Cpu, MemoryAccessError
from .faults import Fault
from .memory_map import is_app_ram
from .nvic import HARDFAULT, NMI, USAGEFAULT, Nvic
from .scs import INVPC, INVSTATE, STKERR, UNSTKERR, Scs

FRAME_NAMES = ("r0", "r1", "r2", "r3", "r12", "lr", "pc", "xpsr")
ENTRY_READS = ("r0", "r1", "r2", "r3", "r12", "lr", "xpsr", "control", "msp", "psp")
EXIT_READS = ("xpsr", "control", "msp", "psp")
RESTORED = ("r0", "r1", "r2", "r3", "r12", "lr", "pc")
FRAME_SIZE = 32
XPSR_STKALIGN = 1 << 9

# EXC_RETURN as an ARMv8-M core running Non-secure code produces it: prefix 0xFFFFFF, S=0,
# DCRS=1, FType=1 (no FP context), Mode (bit 3: thread), SPSEL (bit 2: process stack), ES=0.
EXC_RETURN_BASE = 0xFFFF_FFB0
EXC_RETURN_MODE = 1 << 3
EXC_RETURN_SPSEL = 1 << 2


def is_exc_return(value: int) -> bool:
    return value >= 0xFF00_0000


class ExceptionEngine:
    """Takes exceptions into the application's handlers and returns from them."""

    def __init__(self, cpu: Cpu, nvic: Nvic, scs: Scs):
        self.cpu = cpu
        self.nvic = nvic
        self.scs = scs

    def frame(self, sp: int) -> dict[str, int]:
        """The eight stacked words at `sp`."""
        words = struct.unpack("<8I", self.cpu.read(sp, FRAME_SIZE))
        return dict(zip(FRAME_NAMES, words, strict=True))

    def enter(self, number: int, return_address: int) -> None:
        """Stack the context, switch to Handler mode on the main stack, branch to the vector.

        Raises Fault (STKERR) when the stack cannot take the frame.
        """
        cpu = self.cpu
        *values, xpsr, control, msp, psp = cpu.regs(ENTRY_READS)
        thread_mode = xpsr & 0x1FF == 0
        on_psp = thread_mode and bool(control & CONTROL_SPSEL)
        sp = psp if on_psp else msp
        frame_sp = (sp - FRAME_SIZE) & ~7
        if (sp - FRAME_SIZE) & 4:
            xpsr |= XPSR_STKALIGN
        else:
            xpsr &= ~XPSR_STKALIGN
        values += [return_address & ~1, xpsr]
        if not is_app_ram(frame_sp, FRAME_SIZE):
            raise Fault(HARDFAULT, STKERR, address=frame_sp, pc=return_address,
                        detail=f"stacking for {number} failed: sp 0x{sp:08x} is not in SRAM")
        cpu.write(frame_sp, struct.pack("<8I", *values))

        exc_return = EXC_RETURN_BASE
        if thread_mode:
            exc_return |= EXC_RETURN_MODE
            if on_psp:
                exc_return |= EXC_RETURN_SPSEL
        vtor = self.scs.vtor
        try:
            vector = cpu.read_u32(vtor + 4 * number)
        except MemoryAccessError:
            raise Fault(HARDFAULT, 0, address=vtor + 4 * number, pc=return_address,
                        detail=f"vector table read failed for exception {number}") from None
        # The frame's stack pointer first, then Handler mode on the main stack: clearing SPSEL
        # before the mode changes keeps Unicorn's banked SPs right.
        cpu.set_regs(("psp" if on_psp else "msp", "control", "xpsr", "lr"),
                     (frame_sp, control & ~CONTROL_SPSEL, XPSR_T | number, exc_return))
        self.nvic.activate(number)
        if not vector & 1:
            raise Fault(USAGEFAULT, INVSTATE, pc=vector,
                        detail=f"vector {number} is 0x{vector:08x}, not a Thumb address")
        cpu.set_reg("pc", vector & ~1)

    def exit(self, exc_return: int) -> int:
        """Return from the active exception as `exc_return` asks; gives the PC to resume at."""
        cpu = self.cpu
        xpsr, control, msp, psp = cpu.regs(EXIT_READS)
        number = xpsr & 0x1FF
        if number == 0 or not self.nvic.active[number]:
            raise Fault(USAGEFAULT, INVPC, pc=exc_return,
                        detail=f"EXC_RETURN 0x{exc_return:08x} outside an active exception")
        to_thread = bool(exc_return & EXC_RETURN_MODE)
        use_psp = to_thread and bool(exc_return & EXC_RETURN_SPSEL)
        self.nvic.deactivate(number)
        if number != NMI:
            cpu.set_reg("faultmask", 0)
        if to_thread and self.nvic.nested:
            raise Fault(USAGEFAULT, INVPC, pc=exc_return,
                        detail="return to Thread mode with exceptions still active")
        sp = psp if use_psp else msp
        try:
            if not is_app_ram(sp, FRAME_SIZE):
                raise MemoryAccessError(f"sp 0x{sp:08x}")
            frame = self.frame(sp)
        except MemoryAccessError:
            raise Fault(HARDFAULT, UNSTKERR, address=sp, pc=exc_return,
                        detail=f"unstacking failed: sp 0x{sp:08x} is not in SRAM") from None
        new_sp = sp + FRAME_SIZE + (4 if frame["xpsr"] & XPSR_STKALIGN else 0)
        stacked_ipsr = frame["xpsr"] & 0x1FF
        if to_thread != (stacked_ipsr == 0):
            raise Fault(USAGEFAULT, INVPC, pc=exc_return,
                        detail=f"EXC_RETURN 0x{exc_return:08x} does not match the stacked IPSR")
        cpu.set_regs(("control", "xpsr", "psp" if use_psp else "msp"),
                     ((control | CONTROL_SPSEL) if use_psp else control & ~CONTROL_SPSEL,
                      (frame["xpsr"] & ~XPSR_STKALIGN) | XPSR_T, new_sp))
        cpu.set_regs(RESTORED, [frame[name] for name in RESTORED[:-1]] + [frame["pc"] & ~1])
        return frame["pc"] & ~1
