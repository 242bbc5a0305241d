"""The Cortex-M33 core on Unicorn: registers by name and raw memory access."""

from __future__ import annotations

import ctypes
import struct

from unicorn import UC_ARCH_ARM, UC_MODE_MCLASS, UC_MODE_THUMB, Uc, UcError
from unicorn import arm_const as A
from unicorn.unicorn_py3.unicorn import uclib

REGISTERS: dict[str, int] = {
    **{f"r{i}": getattr(A, f"UC_ARM_REG_R{i}") for i in range(13)},
    "sp": A.UC_ARM_REG_SP, "lr": A.UC_ARM_REG_LR, "pc": A.UC_ARM_REG_PC,
    "xpsr": A.UC_ARM_REG_XPSR, "msp": A.UC_ARM_REG_MSP, "psp": A.UC_ARM_REG_PSP,
    "primask": A.UC_ARM_REG_PRIMASK, "basepri": A.UC_ARM_REG_BASEPRI,
    "faultmask": A.UC_ARM_REG_FAULTMASK, "control": A.UC_ARM_REG_CONTROL,
}
CORE_NAMES = tuple(f"r{i}" for i in range(13)) + ("sp", "lr", "pc", "xpsr")
SYSTEM_NAMES = ("msp", "psp", "primask", "basepri", "faultmask", "control")

MASK_NAMES = ("primask", "basepri", "faultmask")
XPSR_T = 1 << 24
CONTROL_SPSEL = 1 << 1


class MemoryAccessError(Exception):
    """A debugger or the kernel touched an address with no memory behind it."""


class _Batch:
    """The ctypes arrays one batched register access needs, made once per tuple of names."""

    def __init__(self, names: tuple[str, ...]):
        self.ids = (ctypes.c_int * len(names))(*(REGISTERS[name] for name in names))
        self.values = [ctypes.c_uint32() for _ in names]
        self.pointers = (ctypes.c_void_p * len(names))(*(ctypes.addressof(v) for v in self.values))


class Cpu:
    """A Unicorn Cortex-M33 in Thumb/M-class mode."""

    def __init__(self) -> None:
        self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        self.uc.ctl_set_cpu_model(A.UC_CPU_ARM_CORTEX_M33)
        # Registers go straight through the C API: the binding's generic path costs ~10 µs a call,
        # and the device loop reads some at every slice.
        self._handle = self.uc._uch
        self._value = ctypes.c_uint32()
        self._value_ref = ctypes.byref(self._value)
        self._batches: dict[tuple[str, ...], _Batch] = {}
        self._buffer = ctypes.create_string_buffer(64)  # small reads (an instruction, a word) reuse it

    def reg(self, name: str) -> int:
        status = uclib.uc_reg_read(self._handle, REGISTERS[name], self._value_ref)
        if status:
            raise UcError(status)
        return self._value.value

    def set_reg(self, name: str, value: int) -> None:
        if name == "pc":
            value |= 1  # bit 0 of a PC write is Unicorn's Thumb flag: M-profile is always Thumb
        self._value.value = value & 0xFFFF_FFFF
        status = uclib.uc_reg_write(self._handle, REGISTERS[name], self._value_ref)
        if status:
            raise UcError(status)

    def regs(self, names: tuple[str, ...]) -> list[int]:
        """Several registers in one call to Unicorn (the device loop reads the masks at every slice)."""
        batch = self._batch(names)
        status = uclib.uc_reg_read_batch(self._handle, batch.ids, batch.pointers, len(names))
        if status:
            raise UcError(status)
        return [value.value for value in batch.values]

    def _batch(self, names: tuple[str, ...]) -> _Batch:
        batch = self._batches.get(names)
        if batch is None:
            batch = self._batches[names] = _Batch(names)
        return batch

    def snapshot(self) -> dict[str, int]:
        """Every named register."""
        return {name: self.reg(name) for name in REGISTERS}

    @property
    def ipsr(self) -> int:
        return self.reg("xpsr") & 0x1FF

    def masks(self) -> tuple[int, int, int]:
        primask, basepri, faultmask = self.regs(MASK_NAMES)
        return primask, basepri, faultmask

    # --- memory -------------------------------------------------------------------------------
    def read(self, address: int, length: int) -> bytes:
        buffer = self._buffer if length <= len(self._buffer) else ctypes.create_string_buffer(length)
        if length < 0 or uclib.uc_mem_read(self._handle, address, buffer, length):
            raise MemoryAccessError(f"no memory at 0x{address:08x}+{length}")
        return buffer.raw[:length]

    def write(self, address: int, data: bytes) -> None:
        data = bytes(data)
        if uclib.uc_mem_write(self._handle, address, data, len(data)):
            raise MemoryAccessError(f"no memory at 0x{address:08x}+{len(data)}")

    def read_u32(self, address: int) -> int:
        return struct.unpack("<I", self.read(address, 4))[0]

    def write_u32(self, address: int, value: int) -> None:
        self.write(address, struct.pack("<I", value & 0xFFFF_FFFF))
