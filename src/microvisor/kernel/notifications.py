"""Notification centres: mvSetupNotifications, mvCloseNotifications, mvTempTriggerNotification, post()."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..common.mv_abi import (
    MAX_NOTIFICATION_BUFFERS,
    NOTIFICATION_BUFFER_ALIGNMENT,
    NOTIFICATION_BUFFER_MIN_SIZE,
    NOTIFICATION_SETUP_SIZE,
    NOTIFICATION_SIZE,
    MvStatus,
    pack_struct,
)
from ..device.nsc import CallContext
from ..device.nvic import IRQ0
from .guards import app_irq, read_words, writable, write_word
from .handles import HandleTable

if TYPE_CHECKING:
    from .microvisor import Microvisor

@dataclass
class Centre:
    """One notification centre: the application's ring of 16-byte notifications and its IRQ."""

    irq: int
    buffer: int
    size: int
    next_slot: int = 0

    @property
    def slots(self) -> int:
        return self.size // NOTIFICATION_SIZE

    def overlaps(self, start: int, size: int) -> bool:
        return start < self.buffer + self.size and self.buffer < start + size


def install(kernel: Microvisor) -> Notifications:
    """Register this family's handlers with the kernel's device."""
    notifications = Notifications(kernel)
    for name in ("mvSetupNotifications", "mvCloseNotifications", "mvTempTriggerNotification"):
        kernel.device.syscalls.register(name, getattr(notifications, name))
    return notifications


class Notifications:
    """The application's notification centres, and `post`, through which the kernel notifies it.

    A notification goes into the centre's next slot, round the ring, whether or not the
    application has read the slot's previous occupant (the published examples never clear a
    slot in the buffer itself), and the centre's IRQ is pended.
    """

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self.centres: HandleTable[Centre] = HandleTable()

    def application_started(self) -> None:
        """Centres belong to the application that set them up."""
        self.centres.clear()

    # --- the kernel's side --------------------------------------------------------------------
    def is_open(self, handle: int) -> bool:
        return handle in self.centres

    def irq_in_use(self, irq: int) -> bool:
        return any(centre.irq == irq for _, centre in self.centres.items())

    def post(self, handle: int, event_type: int, tag: int) -> bool:
        """Deliver one notification to the centre `handle`; False if there is no such centre.

        Call on the emulation thread (from another thread, through `device.post`). The time
        stamp is the mvGetMicroseconds clock.
        """
        centre = self.centres.get(handle)
        if centre is None:
            return False
        device = self.kernel.device
        entry = pack_struct("MvNotification",
                            {"microseconds": device.clock.now_us(), "event_type": event_type, "tag": tag})
        device.cpu.write(centre.buffer + centre.next_slot * NOTIFICATION_SIZE, entry)
        centre.next_slot = (centre.next_slot + 1) % centre.slots
        # A pulse, not a level: pending even while the handler is active, then released.
        device.nvic.set_pending(IRQ0 + centre.irq)
        device.set_irq(centre.irq, True)
        device.set_irq(centre.irq, False)
        device.events.emit("kernel", "notification", handle=handle, event_type=int(event_type),
                           tag=tag, irq=centre.irq)
        return True

    # --- system calls -------------------------------------------------------------------------
    def mvSetupNotifications(self, ctx: CallContext) -> int:
        setup, handle_out = ctx.arg(0), ctx.arg(1)
        fields = read_words(ctx, setup, NOTIFICATION_SETUP_SIZE // 4)
        if fields is None or not writable(handle_out, 4):
            return MvStatus.PARAMETERFAULT
        irq, buffer, size = fields
        if size < NOTIFICATION_BUFFER_MIN_SIZE or size % NOTIFICATION_SIZE:
            return MvStatus.INVALIDBUFFERSIZE
        if buffer % NOTIFICATION_BUFFER_ALIGNMENT:
            return MvStatus.INVALIDBUFFERALIGNMENT
        if not writable(buffer, size):
            return MvStatus.PARAMETERFAULT
        if any(centre.overlaps(buffer, size) for _, centre in self.centres.items()):
            return MvStatus.BUFFERALREADYINUSE
        if not app_irq(irq) or self.irq_in_use(irq) or self.kernel.fast_interrupts.is_fast(irq):
            return MvStatus.INVALIDINTERRUPT
        if len(self.centres) >= MAX_NOTIFICATION_BUFFERS:
            return MvStatus.TOOMANYNOTIFICATIONBUFFERS
        write_word(ctx, handle_out, self.centres.add(Centre(irq, buffer, size)))
        return MvStatus.OKAY

    def mvCloseNotifications(self, ctx: CallContext) -> int:
        """No IRQ is pended after this; one already pending stays (the application clears it)."""
        pointer = ctx.arg(0)
        handle = read_words(ctx, pointer, 1)
        if handle is None or not writable(pointer, 4):
            return MvStatus.PARAMETERFAULT
        if self.centres.pop(handle[0]) is None:
            return MvStatus.INVALIDHANDLE
        write_word(ctx, pointer, 0)
        return MvStatus.OKAY

    def mvTempTriggerNotification(self, ctx: CallContext) -> int:
        handle, event_type, tag = ctx.arg(0), ctx.arg(1), ctx.arg(2)
        return MvStatus.OKAY if self.post(handle, event_type, tag) else MvStatus.INVALIDHANDLE
