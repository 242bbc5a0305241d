"""Fault descriptions and the crash record an application fault leaves behind."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from typing import Any

from .nvic import exception_name
from .scs import CFSR_NAMES


@functools.cache
def _disassembler() -> Any:
    """The Thumb (v8-M) disassembler, made when a fault is first described, not at import."""
    from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, CS_MODE_V8, Cs

    return Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS | CS_MODE_V8)


class Fault(Exception):
    """A synchronous fault raised by the application's execution (not an emulator error)."""

    def __init__(self, exception: int, cfsr: int, address: int | None = None,
                 pc: int | None = None, detail: str = "", causes: tuple[str, ...] = ()):
        super().__init__(detail or exception_name(exception))
        self.exception = exception
        self.cfsr = cfsr
        self.address = address
        self.pc = pc
        self.detail = detail
        self.causes = list(causes) + cause_names(cfsr)


def disassemble(code: bytes, address: int) -> str:
    """The first instruction of `code` as text, or a note when it cannot be decoded."""
    for insn in _disassembler().disasm(code, address):
        return f"{insn.mnemonic} {insn.op_str}".strip()
    return "<undecodable: " + code[:4].hex() + ">"


def cause_names(cfsr: int) -> list[str]:
    return [name for bit, name in CFSR_NAMES.items() if cfsr & bit]


@dataclass
class CrashRecord:
    """What the device knows about an application crash."""

    fault: str  # the fault that happened first: UsageFault, BusFault, SecureFault, MemManage...
    taken_as: str  # the exception that handled it in the secure world: HardFault, BusFault ...
    causes: list[str]
    address: int | None
    pc: int
    instruction: str
    registers: dict[str, int]
    stacked_frame: dict[str, int]
    cfsr: int
    hfsr: int
    time_ns: int
    detail: str = ""
    escalated: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        text = self.fault
        if self.causes:
            text += " (" + ", ".join(self.causes) + ")"
        if self.escalated:
            text += f", escalated to {self.taken_as}"
        if self.address is not None:
            text += f" at address 0x{self.address:08x}"
        return text

    def format(self) -> str:
        """A human-readable multi-line report."""
        lines = [f"CRASH: {self.summary()}"]
        if self.detail:
            lines.append(f"  {self.detail}")
        lines.append(f"  pc 0x{self.pc:08x}: {self.instruction}")
        lines.append(f"  CFSR 0x{self.cfsr:08x}  HFSR 0x{self.hfsr:08x}")
        regs = self.registers
        names = [f"r{i}" for i in range(13)] + ["sp", "lr", "pc", "xpsr", "msp", "psp",
                                                 "control", "primask", "basepri", "faultmask"]
        row: list[str] = []
        for name in names:
            if name in regs:
                row.append(f"{name:>9} 0x{regs[name]:08x}")
            if len(row) == 4:
                lines.append(" ".join(row))
                row = []
        if row:
            lines.append(" ".join(row))
        if self.stacked_frame:
            frame = " ".join(f"{k}=0x{v:08x}" for k, v in self.stacked_frame.items())
            lines.append(f"  stacked frame: {frame}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)
