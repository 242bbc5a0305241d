"""Exception state of the Cortex-M33: enable, pending, active, priorities and which to take next."""

from __future__ import annotations

from .memory_map import IRQ_COUNT

# Exception numbers.
RESET, NMI, HARDFAULT, MEMMANAGE, BUSFAULT, USAGEFAULT, SECUREFAULT = 1, 2, 3, 4, 5, 6, 7
SVCALL, DEBUGMON, PENDSV, SYSTICK = 11, 12, 14, 15
IRQ0 = 16
EXCEPTION_COUNT = IRQ0 + IRQ_COUNT

NAMES = {
    RESET: "Reset", NMI: "NMI", HARDFAULT: "HardFault", MEMMANAGE: "MemManage",
    BUSFAULT: "BusFault", USAGEFAULT: "UsageFault", SECUREFAULT: "SecureFault",
    SVCALL: "SVCall", DEBUGMON: "DebugMonitor", PENDSV: "PendSV", SYSTICK: "SysTick",
}

PRIORITY_BITS = 4  # the STM32U585 implements the top four bits of each priority field
PRIORITY_MASK = (0xFF << (8 - PRIORITY_BITS)) & 0xFF
THREAD_PRIORITY = 0x100  # execution priority with nothing active and nothing masked

# Exceptions whose enable lives in SHCSR; the rest of the system exceptions are always enabled.
CONFIGURABLE_FAULTS = (MEMMANAGE, BUSFAULT, USAGEFAULT, SECUREFAULT)


def exception_name(number: int) -> str:
    return NAMES.get(number, f"IRQ{number - IRQ0}" if number >= IRQ0 else f"Exception{number}")


class Nvic:
    """Enable/pending/active bits and priorities of every exception, and the preemption rules.

    Priorities are stored as the 8-bit register values (only the top PRIORITY_BITS are kept);
    HardFault and NMI have fixed negative priorities. Masking by PRIMASK/BASEPRI/FAULTMASK is
    taken as arguments because those registers live in the CPU.
    """

    def __init__(self) -> None:
        # Byte arrays, 0 or 1 per exception, shared with the native exception code (exceptions.py),
        # which keeps pointers to them: they are cleared in place, never replaced or resized.
        self.enabled = bytearray(EXCEPTION_COUNT)
        self.pending = bytearray(EXCEPTION_COUNT)
        self.active = bytearray(EXCEPTION_COUNT)
        self.lines = bytearray(EXCEPTION_COUNT)  # asserted external interrupt lines (level)
        self.order = bytearray(EXCEPTION_COUNT + 1)  # active exceptions, innermost last, then zeros
        self.reset()

    def reset(self) -> None:
        for flags in (self.enabled, self.pending, self.active, self.lines, self.order):
            flags[:] = bytes(len(flags))
        self.priority = [0] * EXCEPTION_COUNT
        self.prigroup = 0
        for n in (NMI, HARDFAULT, SVCALL, PENDSV, SYSTICK, DEBUGMON):
            self.enabled[n] = True

    # --- priorities ---------------------------------------------------------------------------
    def raw_priority(self, number: int) -> int:
        if number == NMI:
            return -2
        if number == HARDFAULT:
            return -1
        return self.priority[number]

    def group_priority(self, number: int) -> int:
        """The preempting part of a priority, as AIRCR.PRIGROUP splits it."""
        prio = self.raw_priority(number)
        if prio < 0:
            return prio
        return prio & (0xFF << (self.prigroup + 1)) & 0xFF

    def _group(self, value: int) -> int:
        return value & (0xFF << (self.prigroup + 1)) & 0xFF

    def set_priority(self, number: int, value: int) -> None:
        if number in (NMI, HARDFAULT, RESET) or not 0 < number < EXCEPTION_COUNT:
            return
        self.priority[number] = value & PRIORITY_MASK

    def execution_priority(self, primask: int, basepri: int, faultmask: int) -> int:
        """The current execution priority: the lowest of active exceptions and the masks."""
        prio = THREAD_PRIORITY
        for number in self.order[:self.nested]:
            prio = min(prio, self.group_priority(number))
        if basepri & PRIORITY_MASK:
            prio = min(prio, self._group(basepri & PRIORITY_MASK))
        if primask & 1:
            prio = min(prio, 0)
        if faultmask & 1:
            prio = min(prio, -1)
        return prio

    # --- pending ------------------------------------------------------------------------------
    def set_pending(self, number: int) -> None:
        if 0 < number < EXCEPTION_COUNT:
            self.pending[number] = True

    def set_line(self, irqn: int, level: bool) -> None:
        """Drive an external interrupt line: asserting it pends the interrupt."""
        number = IRQ0 + irqn
        if not 0 <= irqn < IRQ_COUNT:
            return
        self.lines[number] = level
        if level and not self.active[number]:
            self.pending[number] = True

    def highest_pending(self) -> int | None:
        """The pending, enabled exception that would be taken first, or None."""
        pending, best, best_prio, number = self.pending, None, None, 0
        while True:  # find() finds the next pending one at C speed: usually there are few
            number = pending.find(1, number + 1)
            if number < 0:
                return best
            if self.enabled[number]:
                prio = self.group_priority(number)
                if best_prio is None or prio < best_prio:
                    best, best_prio = number, prio

    def preempting(self, primask: int, basepri: int, faultmask: int) -> int | None:
        """The exception to take now, if one has enough priority to preempt."""
        number = self.highest_pending()
        if number is not None and self.can_preempt(number, primask, basepri, faultmask):
            return number
        return None

    def would_wake(self, primask: int, basepri: int, faultmask: int) -> bool:
        """WFI wakes for a pending exception that would preempt if PRIMASK were clear."""
        number = self.highest_pending()
        if number is None:
            return False
        return self.group_priority(number) < self.execution_priority(0, basepri, faultmask)

    def can_preempt(self, number: int, primask: int, basepri: int, faultmask: int) -> bool:
        return self.group_priority(number) < self.execution_priority(primask, basepri, faultmask)

    # --- activation (exceptions are activated and deactivated by the native exception code) ---
    @property
    def nested(self) -> int:
        """How many exceptions are active."""
        return self.order.index(0)

    @property
    def current(self) -> int:
        """The innermost active exception (0: none)."""
        nested = self.nested
        return self.order[nested - 1] if nested else 0

    def vect_pending(self) -> int:
        number = self.highest_pending()
        return 0 if number is None else number
