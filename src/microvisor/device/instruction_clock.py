"""The instruction counter virtual time is made of (native/instruction_clock.c), attached to a Unicorn.

The C block hook counts the instructions the core executes and stops the emulation at a block
boundary once the count reaches `deadline`, or when `request_stop` was called (from any thread). The
library is built once per source into the user's cache folder (common/native.py).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from unicorn import UC_HOOK_BLOCK, Uc
from unicorn.unicorn_py3 import unicorn as _binding

from ..common import native

SOURCE = Path(__file__).resolve().parent / "native" / "instruction_clock.c"
_SLOTS = 1 << 14
NEVER = (1 << 64) - 1


class InstructionClockError(Exception):
    """The counter cannot be built or attached; the message says why."""


class _Counter(ctypes.Structure):
    _fields_ = [("instructions", ctypes.c_uint64), ("deadline", ctypes.c_uint64),
                ("stop", ctypes.c_int32), ("stopped", ctypes.c_int32),
                ("emu_stop", ctypes.c_void_p), ("mem_read", ctypes.c_void_p),
                ("addresses", ctypes.c_uint32 * _SLOTS), ("entries", ctypes.c_uint32 * _SLOTS)]


_library: ctypes.CDLL | None = None


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "microvisor" / "native"


def _load() -> ctypes.CDLL:
    global _library
    if _library is None:
        try:
            _library = ctypes.CDLL(str(native.build(SOURCE, _cache_folder())))
        except (native.NativeBuildError, OSError) as exc:
            raise InstructionClockError(f"the device's instruction counter: {exc}") from None
        _library.mv_clock_forget_code.argtypes = [ctypes.POINTER(_Counter)]
    return _library


class InstructionCounter:
    """Instructions executed by one Unicorn instance, and the stop it makes at a deadline."""

    def __init__(self, uc: Uc):
        library = _load()
        self._counter = _Counter(deadline=NEVER)
        self._counter.emu_stop = ctypes.cast(_binding.uclib.uc_emu_stop, ctypes.c_void_p).value
        self._counter.mem_read = ctypes.cast(_binding.uclib.uc_mem_read, ctypes.c_void_p).value
        handle = _binding.uc_hook_h()
        status = _binding.uclib.uc_hook_add(
            uc._uch, ctypes.byref(handle), UC_HOOK_BLOCK,
            ctypes.cast(library.mv_clock_block, ctypes.c_void_p),
            ctypes.cast(ctypes.pointer(self._counter), ctypes.c_void_p), 1, 0)
        if status != 0:
            raise InstructionClockError(f"cannot hook the instruction counter into Unicorn (error {status})")
        self._uc = uc  # the hook holds a pointer into this object: keep both alive together
        self._library = library

    @property
    def instructions(self) -> int:
        return self._counter.instructions

    @property
    def deadline(self) -> int:
        return self._counter.deadline

    @deadline.setter
    def deadline(self, count: int) -> None:
        self._counter.deadline = min(max(count, 0), NEVER)

    def request_stop(self) -> None:
        """Stop before the next block (safe from any thread; a no-op between runs but the next)."""
        self._counter.stop = 1

    def cancel_stop(self) -> None:
        self._counter.stop = 0

    def took_stop(self) -> bool:
        """Whether the last run ended because the counter stopped it (and forget that it did)."""
        stopped = bool(self._counter.stopped)
        self._counter.stopped = 0
        return stopped

    def forget_code(self) -> None:
        """Application code changed: drop the cached instruction counts of its blocks."""
        self._library.mv_clock_forget_code(ctypes.byref(self._counter))
