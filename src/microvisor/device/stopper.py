"""A thread that stops the CPU when the next virtual-time event is due, so events are never late."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .clock import NS_PER_S, VirtualClock

RETRY_S = 0.0005  # a stop that landed between two slices is repeated this often


class Stopper:
    """While a slice runs, calls `stop()` once virtual time reaches the clock's next deadline.

    `poll_ns`, when set, also stops the CPU that often: the device uses it while an exception
    is pending but masked, to notice promptly when the application unmasks it.
    """

    def __init__(self, clock: VirtualClock, stop: Callable[[], None]):
        self._clock = clock
        self._stop = stop
        self._cond = threading.Condition()
        self._active = False
        self._generation = 0
        self._closed = False
        self.poll_ns: int | None = None
        self.requested = False  # set when this thread asked for the current slice to stop
        self._urgent = False
        clock.on_change = self.kick
        self._thread = threading.Thread(target=self._run, name="mv-stopper", daemon=True)
        self._thread.start()

    def begin_slice(self) -> None:
        with self._cond:
            self.requested = False
            self._active = True
            self._generation += 1
            self._cond.notify()

    def end_slice(self) -> None:
        with self._cond:
            self._active = False
            self._urgent = False
            self._generation += 1

    def stop_soon(self) -> None:
        """Stop the running slice as soon as the current instruction has completed.

        Called from inside the emulation (an MMIO access): stopping there would make Unicorn
        execute the access again, so the stop comes from this thread, between blocks.
        """
        with self._cond:
            self._urgent = True
            self._cond.notify()

    def kick(self) -> None:
        """The event queue changed: look at the deadline again."""
        with self._cond:
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=1)

    def _wait_s(self) -> float | None:
        if self._urgent:
            return 0.0
        deadline = self._clock.next_deadline_ns()
        if self.poll_ns is not None:
            poll = self._clock.now_ns() + self.poll_ns
            deadline = poll if deadline is None else min(deadline, poll)
        if deadline is None:
            return None
        return (deadline - self._clock.now_ns()) / NS_PER_S

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._active:
                    self._cond.wait()
                    continue
                wait = self._wait_s()
                if wait is None:
                    self._cond.wait()
                    continue
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                generation = self._generation
                self.requested = True
                self._stop()
                # If the stop fell between two slices it was lost: ask again shortly.
                deadline = time.monotonic() + RETRY_S
                while self._generation == generation and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
