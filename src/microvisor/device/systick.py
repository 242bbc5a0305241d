"""SysTick: the core's 24-bit down-counter, clocked from the virtual clock, pending SysTick at zero.

While the core runs, its periodic wrap can be handed over to the cycle counter (`hand_over`), which
pends and takes the interrupt itself without stopping the emulation; `take_back` (and any access to
the registers) brings the wraps it ran back into this model.
"""

from __future__ import annotations

from collections.abc import Callable

from .clock import NS_PER_S, Timer, VirtualClock
from .instruction_clock import CycleCounter
from .memory_map import CORE_HZ

ENABLE, TICKINT, CLKSOURCE, COUNTFLAG = 1 << 0, 1 << 1, 1 << 2, 1 << 16
RELOAD_MASK = 0x00FF_FFFF
EXTERNAL_DIVIDER = 8  # STM32U5: the external SysTick reference is HCLK/8
# CALIB: no reference clock skew flag; TENMS for a 1 ms tick of the HCLK/8 reference.
CALIB = (CORE_HZ // EXTERNAL_DIVIDER // 1000 - 1) & RELOAD_MASK


class SysTick:
    """CSR/RVR/CVR/CALIB; the counter is computed from virtual time, never ticked by hand."""

    def __init__(self, clock: VirtualClock, pend: Callable[[], None]):
        self._clock = clock
        self._pend = pend
        self._timer: Timer | None = None
        self._counter: CycleCounter | None = None  # running the wraps while the core runs
        self.reset()

    def reset(self) -> None:
        self.take_back()
        if self._timer:
            self._timer.cancel()
        self._timer = None
        self.csr = CLKSOURCE  # reset value on Cortex-M33 with the processor clock implemented
        self.rvr = 0
        self._cvr_at_start = 0  # counter value when counting (re)started
        self._start_ns = 0

    # --- counting -----------------------------------------------------------------------------
    def _hz(self) -> int:
        return CORE_HZ if self.csr & CLKSOURCE else CORE_HZ // EXTERNAL_DIVIDER

    def _ticks_since_start(self) -> int:
        return (self._clock.now_ns() - self._start_ns) * self._hz() // NS_PER_S

    def _ns_for_ticks(self, ticks: int) -> int:
        hz = self._hz()
        return -(-ticks * NS_PER_S // hz)  # round up so the event is never early

    @property
    def cvr(self) -> int:
        if not self.csr & ENABLE:
            return self._cvr_at_start
        elapsed = self._ticks_since_start()
        if elapsed <= self._cvr_at_start:
            return self._cvr_at_start - elapsed
        period = self.rvr + 1
        if self.rvr == 0:
            return 0
        return self.rvr - ((elapsed - self._cvr_at_start - 1) % period)

    def _restart(self, cvr: int) -> None:
        if self._timer:
            self._timer.cancel()
            self._timer = None
        self._cvr_at_start = cvr
        self._start_ns = self._clock.now_ns()
        if self.csr & ENABLE and self.rvr:
            self._schedule_next()

    def _schedule_next(self) -> None:
        """Schedule the next wrap: the tick at which the counter goes from 1 to 0."""
        ticks = self._cvr_at_start if self._cvr_at_start else self.rvr + 1
        self._timer = self._clock.schedule(self._start_ns + self._ns_for_ticks(ticks), self._wrap)

    def _wrap(self) -> None:
        assert self._timer is not None
        self._start_ns, self._cvr_at_start = self._timer.at_ns, 0  # count on from this wrap
        self.csr |= COUNTFLAG
        if self.csr & TICKINT:
            self._pend()
        if self.rvr:
            self._schedule_next()
        else:
            self._timer = None

    # --- the wraps run by the cycle counter -----------------------------------------------------
    def hand_over(self, counter: CycleCounter, action: int, action_arg: int) -> None:
        """Let `counter` run the wraps while the core runs, the C function at `action` pending and
        taking the interrupt (when the interrupt is enabled and the counter reloads)."""
        if self._timer is None or self._counter is not None or not (self.csr & TICKINT and self.rvr):
            return
        counter.hand_over(self._clock, self._timer.at_ns, self._ns_for_ticks(self.rvr + 1), action,
                          action_arg)
        self._timer.cancel()
        self._timer = None
        self._counter = counter

    def take_back(self) -> None:
        """The wraps are this model's again: those the counter ran are counted in, the next is timed."""
        if self._counter is None:
            return
        events, next_ns = self._counter.take_back()
        self._counted(events, next_ns)
        self._counter = None
        self._timer = self._clock.schedule(next_ns, self._wrap)

    def _catch_up(self) -> None:
        """Count in the wraps the counter ran so far (it keeps running them)."""
        if self._counter is not None:
            self._counted(*self._counter.take_events())

    def _counted(self, events: int, next_ns: int) -> None:
        if events:
            self._start_ns, self._cvr_at_start = next_ns - self._ns_for_ticks(self.rvr + 1), 0
            self.csr |= COUNTFLAG

    # --- registers ----------------------------------------------------------------------------
    def read(self, offset: int) -> int:
        self._catch_up()
        if offset == 0x0:
            value = self.csr
            self.csr &= ~COUNTFLAG  # COUNTFLAG clears on read
            return value
        if offset == 0x4:
            return self.rvr
        if offset == 0x8:
            return self.cvr
        if offset == 0xC:
            return CALIB
        return 0

    def write(self, offset: int, value: int) -> None:
        self.take_back()
        if offset == 0x0:
            current = self.cvr
            self.csr = (self.csr & COUNTFLAG) | (value & (ENABLE | TICKINT | CLKSOURCE))
            self._restart(current)
        elif offset == 0x4:
            self.rvr = value & RELOAD_MASK
            if self.csr & ENABLE and self._timer is None:
                self._restart(self.cvr)
        elif offset == 0x8:
            self.csr &= ~COUNTFLAG
            self._restart(0)  # any write clears the counter; it reloads on the next tick
