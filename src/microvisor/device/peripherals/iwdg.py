"""IWDG, the independent watchdog: once the application starts it, it must refresh it in time.

The watchdog rule of this platform. The published Microvisor has no watchdog system call (its
MICROVISORWATCHDOG wake reason is the microvisor's own watchdog), so an application guards
itself the way any STM32U585 program does: with the IWDG at its non-secure address
0x40003000. Nothing happens until the application writes the start key 0xCCCC to KR; from then
on it must write the refresh key 0xAAAA before (RLR + 1) x 4 x 2^PR periods of the 32 kHz LSI
have passed (and, with a window set in WINR below RLR, not while the down-counter is still
above WINR). Otherwise the watchdog expires: the device records a crash of kind "Watchdog"
with the CPU's state at that moment, and the microvisor reports it and restarts the
application like any crash. So an application that never starts the IWDG is never punished,
and one that does gets exactly the STM32 HAL's behaviour (HAL_IWDG_Init/HAL_IWDG_Refresh).

Registers: KR (0xCCCC start, 0xAAAA refresh, 0x5555 unlock PR/RLR/WINR/EWCR until the next
key), PR (prescaler /4 .. /1024), RLR (12-bit reload), SR (ONF while running; the update flags
are never busy), WINR (window), EWCR (kept, but the early-wakeup interrupt is not modelled).
New PR/RLR values take effect at the next refresh, as on the chip. A reset stops the watchdog,
and so does Standby/Shutdown (the microvisor keeps the IWDG frozen in those modes).
"""

from __future__ import annotations

import logging

from ..bus import DeviceContext
from ..clock import NS_PER_S, Timer
from ._base import WordRegisters, merge

log = logging.getLogger(__name__)

IWDG_BASE = 0x4000_3000
LSI_HZ = 32_000

KR = 0x00
PR = 0x04
RLR = 0x08
SR = 0x0C
WINR = 0x10
EWCR = 0x14

KEY_START = 0xCCCC
KEY_REFRESH = 0xAAAA
KEY_UNLOCK = 0x5555
SR_ONF = 1 << 8
RLR_MAX = 0xFFF


class Iwdg(WordRegisters):
    """The independent watchdog; on expiry it calls the device's `watchdog_expired(detail)`."""

    name = "IWDG"
    base = IWDG_BASE
    size = 0x400

    def __init__(self, ctx: DeviceContext):
        super().__init__(ctx)
        self._timer: Timer | None = None
        self.reset()

    def reset(self) -> None:
        self._cancel()
        self._pr, self._rlr, self._winr, self._ewcr = 0, RLR_MAX, RLR_MAX, 0
        self._unlocked = False
        self.running = False
        self._period_ns = 0
        self._loaded_ns = 0
        self._loaded_ticks = 0

    # --- bus side -----------------------------------------------------------------------------
    def read_word(self, offset: int) -> int:
        if offset == PR:
            return self._pr
        if offset == RLR:
            return self._rlr
        if offset == SR:
            return SR_ONF if self.running else 0
        if offset == WINR:
            return self._winr
        if offset == EWCR:
            return self._ewcr
        return 0  # KR is write-only

    def write_word(self, offset: int, value: int, mask: int) -> None:
        if offset == KR:
            self._key(value & 0xFFFF)
        elif not self._unlocked:
            log.debug("IWDG register %#04x is write-protected; write ignored", offset)
        elif offset == PR:
            self._pr = merge(self._pr, value, mask) & 0xF
        elif offset == RLR:
            self._rlr = merge(self._rlr, value, mask) & RLR_MAX
        elif offset == WINR:
            self._winr = merge(self._winr, value, mask) & RLR_MAX
        elif offset == EWCR:
            self._ewcr = merge(self._ewcr, value, mask) & 0xFFFF

    # --- counting -----------------------------------------------------------------------------
    def timeout_ns(self) -> int:
        """How long a refresh lasts with the current PR and RLR."""
        prescaler = min(4 << self._pr, 1024)
        return (self._rlr + 1) * prescaler * NS_PER_S // LSI_HZ

    def counter(self) -> int:
        """The down-counter's value now (RLR right after a refresh, 0 at expiry)."""
        if not self.running:
            return self._rlr
        elapsed = self.ctx.clock.now_ns() - self._loaded_ns
        left = self._loaded_ticks - elapsed * self._loaded_ticks // max(self._period_ns, 1)
        return max(0, left)

    def _key(self, key: int) -> None:
        if key == KEY_UNLOCK:
            self._unlocked = True
            return
        self._unlocked = False
        if key == KEY_START:
            if not self.running:
                self.running = True
                self._reload()
                self.ctx.events.emit("watchdog", "start", timeout_ms=self._period_ns // 1_000_000)
        elif key == KEY_REFRESH and self.running:
            if self._winr < self._loaded_ticks and self.counter() > self._winr:
                self._expire(f"refreshed at counter {self.counter()}, before the window "
                             f"opened at {self._winr}")
                return
            self._reload()

    def _reload(self) -> None:
        self._cancel()
        self._period_ns = self.timeout_ns()
        self._loaded_ns = self.ctx.clock.now_ns()
        self._loaded_ticks = self._rlr
        self._timer = self.ctx.clock.schedule(self._loaded_ns + self._period_ns, self._on_timeout)

    def _on_timeout(self) -> None:
        self._timer = None
        if self.running:
            self._expire(f"not refreshed for {self._period_ns / 1_000_000:g} ms")

    def _expire(self, detail: str) -> None:
        self._cancel()
        self.running = False
        self.ctx.events.emit("watchdog", "expired", detail=detail)
        self.ctx.watchdog_expired(f"independent watchdog expired: {detail}")

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
