"""The virtual clock: made of the code the core executes, jumping ahead while the CPU sleeps.

The cost model (ARCHITECTURE.md): a 16-bit instruction is one cycle of the 160 MHz core, a 32-bit
instruction two (6.25 ns a cycle). Time never depends on the host: the same application with the same
input sees the same timestamps on any host under any load.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable

from .memory_map import CORE_HZ

NS_PER_S = 1_000_000_000


class Timer:
    """A scheduled callback; cancel() keeps it from firing."""

    __slots__ = ("at_ns", "callback", "cancelled", "wakes")

    def __init__(self, at_ns: int, callback: Callable[[], None], wakes: bool = True):
        self.at_ns = at_ns
        self.callback = callback
        self.cancelled = False
        self.wakes = wakes

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Virtual nanoseconds since power-on, plus a queue of timed callbacks.

    Time is `cycles()` (a counter of the core's cycles at CORE_HZ) plus the time skipped by
    `advance_to` (a sleeping CPU skipping to its next event, or waiting for outside input). Without a
    counter (a CPU-less device) only the skips move it.
    Callbacks run on the emulation thread, from `run_due`; `schedule` may be called from any thread.
    A passive timer (`wakes=False`, a run's time limit) ends a slice when due but is no reason for a
    sleeping CPU to skip ahead to it.
    """

    def __init__(self, cycles: Callable[[], int] | None = None):
        self._cycles = cycles or (lambda: 0)
        self._skipped_ns = 0
        self._queue: list[tuple[int, int, Timer]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self.on_change: Callable[[], None] | None = None

    # --- time -------------------------------------------------------------------------------
    def now_ns(self) -> int:
        return self._skipped_ns + self._cycles() * NS_PER_S // CORE_HZ

    @property
    def skipped_ns(self) -> int:
        """Virtual time that passed without cycles (sleeps, system calls)."""
        return self._skipped_ns

    def now_us(self) -> int:
        return self.now_ns() // 1000

    def cycles(self) -> int:
        """Core clock cycles elapsed (160 MHz)."""
        return self.now_ns() * CORE_HZ // NS_PER_S

    def cycles_until(self, at_ns: int) -> int:
        """The cycle count at which virtual time reaches `at_ns` (rounded up)."""
        return -(-(at_ns - self._skipped_ns) * CORE_HZ // NS_PER_S)

    def advance_to(self, at_ns: int) -> None:
        """Jump virtual time forward to `at_ns` (never backwards)."""
        with self._lock:
            self._skipped_ns += max(0, at_ns - self.now_ns())

    # --- events -----------------------------------------------------------------------------
    def schedule(self, at_ns: int, callback: Callable[[], None], wakes: bool = True) -> Timer:
        """Run `callback` on the emulation thread once virtual time reaches `at_ns`."""
        timer = Timer(at_ns, callback, wakes)
        with self._lock:
            heapq.heappush(self._queue, (at_ns, next(self._seq), timer))
        if self.on_change is not None:
            self.on_change()
        return timer

    def schedule_in(self, delay_ns: int, callback: Callable[[], None], wakes: bool = True) -> Timer:
        return self.schedule(self.now_ns() + max(0, delay_ns), callback, wakes)

    def next_deadline_ns(self, waking: bool = False) -> int | None:
        """When the next timer falls due (with `waking`, the next that is not passive), or None."""
        with self._lock:
            while self._queue and self._queue[0][2].cancelled:
                heapq.heappop(self._queue)
            if not waking:
                return self._queue[0][0] if self._queue else None
            due = [at for at, _, timer in self._queue if timer.wakes and not timer.cancelled]
            return min(due) if due else None

    def run_due(self) -> int:
        """Fire every callback whose time has come; returns how many fired."""
        fired = 0
        while True:
            now = self.now_ns()
            with self._lock:
                while self._queue and self._queue[0][2].cancelled:
                    heapq.heappop(self._queue)
                if not self._queue or self._queue[0][0] > now:
                    return fired
                _, _, timer = heapq.heappop(self._queue)
            timer.cancelled = True
            timer.callback()
            fired += 1
