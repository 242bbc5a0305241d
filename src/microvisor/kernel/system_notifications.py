"""System notifications: mvOpenSystemNotification, mvCloseSystemNotification, and notify()."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..common.mv_abi import MvEventType, MvStatus, MvSystemNotificationSource, struct_size
from ..device.nsc import CallContext
from .guards import in_interrupt, read_words, writable, write_word
from .handles import HandleTable, close_handle

if TYPE_CHECKING:
    from .microvisor import Microvisor

# The event each source delivers (the header: "just NetworkStatusChanged", "just UpdateDownloaded").
SOURCE_EVENTS = {
    MvSystemNotificationSource.NETWORK: MvEventType.NETWORKSTATUSCHANGED,
    MvSystemNotificationSource.UPDATE: MvEventType.UPDATEDOWNLOADED,
}


@dataclass(frozen=True)
class Subscription:
    """Where one source's events go: a notification centre and the application's tag."""

    centre: int
    tag: int
    source: MvSystemNotificationSource


def install(kernel: Microvisor) -> SystemNotifications:
    """Register this family's handlers with the kernel's device."""
    system = SystemNotifications(kernel)
    for name in ("mvOpenSystemNotification", "mvCloseSystemNotification"):
        kernel.device.syscalls.register(name, getattr(system, name))
    return system


class SystemNotifications:
    """The application's subscriptions to system-wide events; the network and FOTA code call notify()."""

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self.subscriptions: HandleTable[Subscription] = HandleTable()

    def application_started(self) -> None:
        self.subscriptions.clear()

    def notify(self, source: MvSystemNotificationSource) -> int:
        """Tell every subscriber of `source` that its event happened; returns how many were told.

        A subscription whose centre has been closed is kept but delivers nothing.
        """
        event = SOURCE_EVENTS[source]
        delivered = 0
        for _, subscription in self.subscriptions.items():
            if subscription.source == source:
                delivered += self.kernel.notifications.post(subscription.centre, event,
                                                            subscription.tag)
        return delivered

    def mvOpenSystemNotification(self, ctx: CallContext) -> int:
        params, handle_out = ctx.arg(0), ctx.arg(1)
        if in_interrupt(ctx):
            return MvStatus.UNAVAILABLE
        fields = read_words(ctx, params, struct_size("MvOpenSystemNotificationParams") // 4)
        if fields is None or not writable(handle_out, 4):
            return MvStatus.PARAMETERFAULT
        centre, tag, source = fields
        if not self.kernel.notifications.is_open(centre) or source not in SOURCE_EVENTS:
            return MvStatus.INVALIDHANDLE
        subscription = Subscription(centre, tag, MvSystemNotificationSource(source))
        write_word(ctx, handle_out, self.subscriptions.add(subscription))
        return MvStatus.OKAY

    def mvCloseSystemNotification(self, ctx: CallContext) -> int:
        pointer = ctx.arg(0)
        if in_interrupt(ctx):
            return MvStatus.UNAVAILABLE
        return close_handle(ctx, pointer, self.subscriptions)
