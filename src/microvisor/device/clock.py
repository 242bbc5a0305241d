"""The virtual clock: runs with wall time while code runs, jumps ahead while the CPU sleeps."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

from .memory_map import CORE_HZ

NS_PER_S = 1_000_000_000


class Timer:
    """A scheduled callback; cancel() keeps it from firing."""

    __slots__ = ("at_ns", "callback", "cancelled")

    def __init__(self, at_ns: int, callback: Callable[[], None]):
        self.at_ns = at_ns
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Virtual nanoseconds since power-on, plus a queue of timed callbacks.

    While `running`, virtual time advances with the host's monotonic clock; while paused (the CPU
    halted by a debugger, or between runs) it stands still; `advance_to` jumps it forward, which is
    how a sleeping CPU skips to its next event. Callbacks run on the emulation thread, from
    `run_due`; `schedule` and `kick` may be called from any thread.
    """

    def __init__(self, start_ns: int = 0):
        self._base_ns = start_ns
        self._resumed_at: float | None = None
        self._queue: list[tuple[int, int, Timer]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.on_change: Callable[[], None] | None = None

    # --- time -------------------------------------------------------------------------------
    def now_ns(self) -> int:
        base, resumed = self._base_ns, self._resumed_at
        if resumed is None:
            return base
        return base + int((time.perf_counter() - resumed) * NS_PER_S)

    def now_us(self) -> int:
        return self.now_ns() // 1000

    def cycles(self) -> int:
        """Core clock cycles elapsed (160 MHz)."""
        return self.now_ns() * CORE_HZ // NS_PER_S

    @property
    def running(self) -> bool:
        return self._resumed_at is not None

    def resume(self) -> None:
        with self._lock:
            if self._resumed_at is None:
                self._resumed_at = time.perf_counter()

    def pause(self) -> None:
        with self._lock:
            if self._resumed_at is not None:
                self._base_ns += int((time.perf_counter() - self._resumed_at) * NS_PER_S)
                self._resumed_at = None

    def advance_to(self, at_ns: int) -> None:
        """Jump virtual time forward to `at_ns` (never backwards)."""
        with self._lock:
            now = self._base_ns
            if self._resumed_at is not None:
                now += int((time.perf_counter() - self._resumed_at) * NS_PER_S)
                self._resumed_at = time.perf_counter()
            self._base_ns = max(now, at_ns)

    # --- events -----------------------------------------------------------------------------
    def schedule(self, at_ns: int, callback: Callable[[], None]) -> Timer:
        """Run `callback` on the emulation thread once virtual time reaches `at_ns`."""
        timer = Timer(at_ns, callback)
        with self._lock:
            heapq.heappush(self._queue, (at_ns, next(self._seq), timer))
            self._changed.notify_all()
        if self.on_change is not None:
            self.on_change()
        return timer

    def schedule_in(self, delay_ns: int, callback: Callable[[], None]) -> Timer:
        return self.schedule(self.now_ns() + max(0, delay_ns), callback)

    def next_deadline_ns(self) -> int | None:
        with self._lock:
            while self._queue and self._queue[0][2].cancelled:
                heapq.heappop(self._queue)
            return self._queue[0][0] if self._queue else None

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
