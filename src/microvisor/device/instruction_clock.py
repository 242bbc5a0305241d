"""The cycle counter virtual time is made of (native/instruction_clock.c), attached to a Unicorn.

The C block hook counts the core's cycles (a halfword of code executed is a cycle) and stops the
emulation at a block boundary once the count reaches `deadline`, or when `request_stop` was called
(from any thread). It can also run one periodic event itself (`hand_over`): SysTick's wrap.
"""

from __future__ import annotations

import ctypes
import math

from unicorn import UC_HOOK_BLOCK, Uc

from . import native_library
from .clock import NS_PER_S, VirtualClock
from .memory_map import CORE_HZ

_RATIO = math.gcd(NS_PER_S, CORE_HZ)

NEVER = (1 << 64) - 1


class _Counter(ctypes.Structure):
    _fields_ = [("cycles", ctypes.c_uint64), ("deadline", ctypes.c_uint64),
                ("stop", ctypes.c_int32), ("stopped", ctypes.c_int32), ("emu_stop", ctypes.c_void_p),
                ("event_at", ctypes.c_uint64), ("event_ns", ctypes.c_int64), ("step_ns", ctypes.c_int64),
                ("skipped_ns", ctypes.c_int64), ("ns_per_cycle_num", ctypes.c_int64),
                ("ns_per_cycle_den", ctypes.c_int64), ("events", ctypes.c_uint64),
                ("action", ctypes.c_void_p), ("action_arg", ctypes.c_void_p)]


class CycleCounter:
    """Cycles executed by one Unicorn instance, and the stop it makes at a deadline."""

    def __init__(self, uc: Uc):
        library = native_library.load("instruction_clock")
        self._counter = _Counter(deadline=NEVER, emu_stop=native_library.unicorn_function("uc_emu_stop"),
                                 event_at=NEVER, ns_per_cycle_num=NS_PER_S // _RATIO,
                                 ns_per_cycle_den=CORE_HZ // _RATIO)
        native_library.hook(uc, UC_HOOK_BLOCK, library.mv_clock_block, self._counter)
        self._uc = uc  # the hook holds a pointer into this object: keep both alive together

    @property
    def cycles(self) -> int:
        return self._counter.cycles

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

    @property
    def stop_flag(self) -> int:
        """The address of the stop flag, for native code that asks for a stop."""
        return ctypes.addressof(self._counter) + _Counter.stop.offset

    # --- the periodic event the hook runs itself ----------------------------------------------
    def hand_over(self, clock: VirtualClock, at_ns: int, step_ns: int, action: int, action_arg: int) -> None:
        """Run an event at virtual time `at_ns` and every `step_ns` after it, in the hook: the C
        function at `action` (called with `action_arg` and the address of the block about to run)
        does its work; cycles are tied to virtual time as `clock` ties them for this run."""
        counter = self._counter
        counter.event_ns, counter.step_ns, counter.skipped_ns = at_ns, step_ns, clock.skipped_ns
        counter.action, counter.action_arg, counter.events = action, action_arg, 0
        counter.event_at = max(0, clock.cycles_until(at_ns))

    def take_events(self) -> tuple[int, int]:
        """(events run since the last call, the virtual time of the next one)."""
        count, self._counter.events = self._counter.events, 0
        return count, self._counter.event_ns

    def take_back(self) -> tuple[int, int]:
        """Stop running the event; (events run since the last look, the virtual time of the next)."""
        self._counter.event_at = NEVER
        return self.take_events()
