"""A device without a CPU, for running many devices' kernels at once (the fleet benchmark).

The boot ROM, the kernel it verifies and loads, the device's storage and the kernel's link, logs and
update client all run for real; only the Cortex-M33 is missing. The kernel binds to this object in
place of `machine.Device`: it offers the part of the device the kernel uses outside system calls —
the state, virtual clock, event bus, system-call table (nothing ever calls through it), `post`,
`park`, `reset`, `request_reset`, `stop` and a `run` loop that fires posted callbacks and timers.

The application is verified and "started" as usual but never executes an instruction: the device
behaves as if it slept in WFI for ever, so virtual time skips to the next timer whenever nothing is
due (a politeness delay passes at once, as it does for a sleeping application). A host acts as the
application by calling the kernel on the device's thread through `post` (e.g. `kernel.log(text)`,
what mvServerLog does with a line).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .bus import EventBus
from .clock import VirtualClock
from .machine import RunResult
from .nsc import SyscallTable
from .state import DeviceState


class HeadlessDevice:
    """A device's state, clock and event bus with no CPU; `run` until the kernel stops or reboots it."""

    def __init__(self, state: DeviceState):
        self.state = state
        self.clock = VirtualClock()
        self.events = EventBus(self.clock)
        self.syscalls = SyscallTable()
        self.crash_handler = None  # set by the kernel; no CPU, so no crash ever reaches it
        self.parked: str | None = None
        self._wakeup = threading.Event()
        self.clock.on_change = self._wakeup.set  # a timer scheduled from any thread wakes `run`
        self._stop_reason: str | None = None
        self._reset_reason: str | None = None

    def post(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the device's thread (the one in `run`) as soon as possible."""
        self.clock.schedule(self.clock.now_ns(), callback)

    def park(self, why: str) -> None:
        self.parked = why

    def unpark(self) -> None:
        self.parked = None

    def reset(self, reason: str) -> None:
        """The application (which runs no code here) starts over: the kernel hears of it."""
        self.events.emit("power", "reset", reason=reason)

    def request_reset(self, reason: str) -> None:
        self._reset_reason = reason
        self._wakeup.set()

    def stop(self, reason: str = "stopped") -> None:
        """Make `run` return with `reason` (safe from any thread)."""
        self.post(lambda: self._stop_with(reason))

    def _stop_with(self, reason: str) -> None:
        self._stop_reason = self._stop_reason or reason

    def run(self) -> RunResult:
        """Fire callbacks and timers until stopped ("reboot" when the kernel restarts the device)."""
        self._stop_reason = None
        while True:
            self._wakeup.clear()
            self.clock.run_due()
            if self._reset_reason is not None:
                reason, self._reset_reason = self._reset_reason, None
                self.reset(reason)
            if self._stop_reason is not None:
                return RunResult(self._stop_reason, self.clock.now_ns())
            deadline = self.clock.next_deadline_ns()
            if deadline is not None:
                self.clock.advance_to(deadline)  # the idle application lets time skip ahead
                continue
            self._wakeup.wait()

    def close(self) -> None:
        self.state.flush()
