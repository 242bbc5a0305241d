"""General-purpose (TIM2-TIM5) and basic (TIM6, TIM7) timers: up-counting on the virtual clock."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..bus import DeviceContext
from ..clock import NS_PER_S, Timer
from ..memory_map import CORE_HZ
from ._base import WordRegisters, merge

log = logging.getLogger(__name__)

CR1 = 0x00
CR2 = 0x04
SMCR = 0x08
DIER = 0x0C
SR = 0x10
EGR = 0x14
CNT = 0x24
PSC = 0x28
ARR = 0x2C

CR1_CEN = 1 << 0
CR1_UDIS = 1 << 1
CR1_URS = 1 << 2
CR1_OPM = 1 << 3
CR1_ARPE = 1 << 7
CR1_UIFREMAP = 1 << 11
CR1_MASK = 0x1FFF
DIER_UIE = 1 << 0
SR_UIF = 1 << 0
EGR_UG = 1 << 0
CNT_UIFCPY = 1 << 31

TIMER_HZ = CORE_HZ  # timer kernel clock: the core clock (APB prescalers are not modelled)


@dataclass(frozen=True)
class TimerSpec:
    """Where a timer sits: name, non-secure base, NVIC line and counter width."""

    name: str
    base: int
    irq: int
    bits: int


TIM2 = TimerSpec("TIM2", 0x4000_0000, 45, 32)
TIM3 = TimerSpec("TIM3", 0x4000_0400, 46, 16)
TIM4 = TimerSpec("TIM4", 0x4000_0800, 47, 16)
TIM5 = TimerSpec("TIM5", 0x4000_0C00, 48, 32)
TIM6 = TimerSpec("TIM6", 0x4000_1000, 49, 16)
TIM7 = TimerSpec("TIM7", 0x4000_1400, 50, 16)
TIMERS = (TIM2, TIM3, TIM4, TIM5, TIM6, TIM7)


class GeneralTimer(WordRegisters):
    """An up-counting timer whose counter is derived from virtual time, never ticked.

    While CEN is set the counter is `c0 + ticks since t0` folded by ARR+1; the next overflow is a
    single callback on the virtual clock, rescheduled whenever CR1, PSC, ARR, CNT or EGR change.
    Capture/compare channels, slave modes, down- and centre-aligned counting are not modelled
    (their registers only keep what is written).
    """

    size = 0x400

    def __init__(self, ctx: DeviceContext, spec: TimerSpec):
        super().__init__(ctx)
        self.name, self.base, self.irq = spec.name, spec.base, spec.irq
        self.max = (1 << spec.bits) - 1
        self._timer: Timer | None = None
        self.reset()

    def reset(self) -> None:
        self._cancel()
        self._regs: dict[int, int] = {}
        self._cr1 = self._dier = self._sr = 0
        self._psc = self._psc_pre = 0
        self._arr = self._arr_pre = self.max
        self._cnt = 0  # the counter while stopped
        self._t0 = 0  # while running: time and counter value of the epoch
        self._c0 = 0
        self._done = 0  # overflows handled since the epoch
        self.drive_irq(self.irq, False)

    # --- bus side -----------------------------------------------------------------------------
    def read_word(self, offset: int) -> int:
        if offset == CR1:
            return self._cr1
        if offset == DIER:
            return self._dier
        if offset == SR:
            return self._sr
        if offset == CNT:
            cnt = self.counter()
            if self._cr1 & CR1_UIFREMAP:
                cnt = (cnt & ~CNT_UIFCPY) | (CNT_UIFCPY if self._sr & SR_UIF else 0)
            return cnt
        if offset == PSC:
            return self._psc_pre
        if offset == ARR:
            return self._arr_pre
        if offset == EGR:
            return 0
        return self._regs.get(offset, 0)

    def write_word(self, offset: int, value: int, mask: int) -> None:
        now = self.ctx.clock.now_ns()
        if offset == CR1:
            self._write_cr1(merge(self._cr1, value, mask) & CR1_MASK, now)
        elif offset == DIER:
            self._dier = merge(self._dier, value, mask)
        elif offset == SR:
            self._sr &= value | ~mask  # rc_w0: writing 0 clears, 1 keeps
        elif offset == EGR:
            if value & EGR_UG:
                self._generate_update(now)
        elif offset == CNT:
            self._rebase(now, merge(self.counter(now), value, mask) & self.max)
        elif offset == PSC:
            self._psc_pre = merge(self._psc_pre, value, mask) & 0xFFFF  # taken at the next update
        elif offset == ARR:
            self._arr_pre = merge(self._arr_pre, value, mask) & self.max
            if not self._cr1 & CR1_ARPE:
                cnt = self.counter(now)
                self._arr = self._arr_pre
                self._rebase(now, cnt)
        else:
            self._regs[offset] = merge(self._regs.get(offset, 0), value, mask)
        self._update_irq()
        if offset in (CR1, EGR, CNT, ARR):
            self._schedule()

    # --- the counter --------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return bool(self._cr1 & CR1_CEN)

    def counter(self, now: int | None = None) -> int:
        """The counter value at virtual time `now` (default: the clock's now)."""
        if not self.running:
            return self._cnt
        if self._arr == 0:  # ARR=0 blocks the counter
            return self._c0
        position = self._c0 + self._ticks(self._elapsed(now))
        if self._c0 > self._arr:  # CNT was set above ARR: it counts up to the top, then wraps
            if position <= self.max:
                return position
            position -= self.max + 1
        return position % (self._arr + 1)

    def _elapsed(self, now: int | None) -> int:
        now = self.ctx.clock.now_ns() if now is None else now
        return max(0, now - self._t0)

    def _ticks(self, ns: int) -> int:
        return ns * TIMER_HZ // (NS_PER_S * (self._psc + 1))

    def _ticks_ns(self, ticks: int) -> int:
        """Nanoseconds until `ticks` counter ticks have elapsed (rounded up)."""
        return -(-ticks * NS_PER_S * (self._psc + 1) // TIMER_HZ)

    def _rebase(self, now: int, cnt: int) -> None:
        """Start a new epoch: the counter holds `cnt` at `now`."""
        if self.running:
            self._t0, self._c0, self._done = now, cnt, 0
        else:
            self._cnt = cnt

    def _write_cr1(self, value: int, now: int) -> None:
        was_running = self.running
        if was_running and not value & CR1_CEN:
            self._cnt = self.counter(now)
        self._cr1 = value
        if not was_running and self.running:
            self._t0, self._c0, self._done = now, self._cnt, 0

    def _update_event(self) -> bool:
        """An update event (overflow or UG): load preloads, flag UIF. True if PSC/ARR changed."""
        if self._cr1 & CR1_UDIS:
            return False
        changed = (self._psc, self._arr) != (self._psc_pre, self._arr_pre)
        self._psc, self._arr = self._psc_pre, self._arr_pre
        self._sr |= SR_UIF
        return changed

    def _generate_update(self, now: int) -> None:
        """UG: reinitialise the counter and, unless UDIS, load the preloads (UIF unless URS)."""
        had_uif = self._sr & SR_UIF
        self._update_event()
        if self._cr1 & CR1_URS:
            self._sr = (self._sr & ~SR_UIF) | had_uif
        self._rebase(now, 0)

    # --- overflow scheduling ------------------------------------------------------------------
    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _next_event_ticks(self) -> int:
        """Ticks after the epoch at which the next wrap or overflow happens."""
        if self._c0 > self._arr:
            return self.max + 1 - self._c0
        return (self._done + 1) * (self._arr + 1) - self._c0

    def _schedule(self) -> None:
        self._cancel()
        if self.running and self._arr != 0:
            at = self._t0 + self._ticks_ns(self._next_event_ticks())
            self._timer = self.ctx.clock.schedule(at, self._on_overflow)

    def _on_overflow(self) -> None:
        self._timer = None
        now = self.ctx.clock.now_ns()
        while self.running and self._arr != 0:
            due = self._t0 + self._ticks_ns(self._next_event_ticks())
            if due > now:
                break
            if self._c0 > self._arr:  # wrapped past the top: no update event, count on from 0
                self._t0, self._c0, self._done = due, 0, 0
                continue
            changed = self._update_event()
            if self._cr1 & CR1_OPM:
                self._cr1 &= ~CR1_CEN
                self._cnt = 0
                break
            if changed:
                self._t0, self._c0, self._done = due, 0, 0
            else:  # every later overflow up to now looks the same: UIF is already set
                position = self._c0 + self._ticks(now - self._t0)
                self._done = max(self._done + 1, position // (self._arr + 1))
        self._update_irq()
        self._schedule()

    def _update_irq(self) -> None:
        self.drive_irq(self.irq, bool(self._sr & SR_UIF and self._dier & DIER_UIE))
