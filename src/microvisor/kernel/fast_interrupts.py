"""Fast (low-latency) interrupts: mvSet/Clear/Enable/DisableFastInterrupt and the all-at-once pair."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..common.mv_abi import MvStatus
from ..device.nsc import CallContext
from ..device.nvic import IRQ0
from .guards import app_irq, readable

if TYPE_CHECKING:
    from .microvisor import Microvisor


def install(kernel: Microvisor) -> FastInterrupts:
    """Register this family's handlers with the kernel's device."""
    fast = FastInterrupts(kernel)
    for name in ("mvSetFastInterrupt", "mvClearFastInterrupt", "mvEnableFastInterrupt",
                 "mvDisableFastInterrupt", "mvEnableAllFastInterrupts", "mvDisableAllFastInterrupts"):
        kernel.device.syscalls.register(name, getattr(fast, name))
    return fast


class FastInterrupts:
    """Which interrupts the application has made fast, and which of those are switched on.

    On the real part a fast interrupt may preempt the microvisor's secure threads. The virtual
    device has no secure threads to preempt, so being fast changes no timing here; what is kept
    is the bookkeeping and its rules: an IRQ is set fast only with a vector table and vector in
    application memory, only `set` IRQs can be enabled, the global switch leaves each IRQ's own
    state alone, and a fast IRQ cannot carry notifications (nor a notification IRQ become fast).
    `low_latency(irq)` tells whether an IRQ is served in fast mode now.
    """

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self.application_started()

    def application_started(self) -> None:
        self.fast: set[int] = set()
        self.enabled: set[int] = set()
        self.all_disabled = False
        # Set by the kernel when it shuts a hung or flooding interrupt down; the calls are then
        # UNAVAILABLE until the application restarts.
        self.shut_down = False

    def is_fast(self, irq: int) -> bool:
        return irq in self.fast

    def low_latency(self, irq: int) -> bool:
        return irq in self.enabled and not self.all_disabled and not self.shut_down

    # --- system calls -------------------------------------------------------------------------
    def _refuse(self, irq: int) -> int | None:
        """The status for an IRQ these calls cannot act on, or None when they may."""
        if self.shut_down:
            return MvStatus.UNAVAILABLE
        if not app_irq(irq) or self.kernel.notifications.irq_in_use(irq):
            return MvStatus.INVALIDINTERRUPT
        return None

    def mvSetFastInterrupt(self, ctx: CallContext) -> int:
        irq = ctx.arg(0)
        refusal = self._refuse(irq)
        if refusal is not None:
            return refusal
        entry = ctx.device.scs.vtor + 4 * (IRQ0 + irq)
        if not readable(entry, 4) or not readable(ctx.device.cpu.read_u32(entry) & ~1, 2):
            return MvStatus.INVALIDVECTOR
        self.fast.add(irq)
        return MvStatus.OKAY

    def mvClearFastInterrupt(self, ctx: CallContext) -> int:
        irq = ctx.arg(0)
        refusal = self._refuse(irq)
        if refusal is not None:
            return refusal
        self.fast.discard(irq)
        self.enabled.discard(irq)
        return MvStatus.OKAY

    def mvEnableFastInterrupt(self, ctx: CallContext) -> int:
        return self._switch(ctx.arg(0), on=True)

    def mvDisableFastInterrupt(self, ctx: CallContext) -> int:
        return self._switch(ctx.arg(0), on=False)

    def _switch(self, irq: int, on: bool) -> int:
        refusal = self._refuse(irq)
        if refusal is not None:
            return refusal
        if irq not in self.fast:
            return MvStatus.INVALIDINTERRUPT
        (self.enabled.add if on else self.enabled.discard)(irq)
        return MvStatus.OKAY

    def mvEnableAllFastInterrupts(self, ctx: CallContext) -> int:
        self.all_disabled = False
        return MvStatus.OKAY

    def mvDisableAllFastInterrupts(self, ctx: CallContext) -> int:
        self.all_disabled = True
        return MvStatus.OKAY
