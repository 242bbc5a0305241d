"""The network calls: mvRequestNetwork, mvReleaseNetwork, mvGetNetworkStatus, mvGetNetworkReasons.

The link to the service is the kernel's: it stays up whether or not the application asks for the
network (logs, crash reports and updates need it). What these calls give the application:

- mvRequestNetwork(params v1 {notification centre, tag}) → a handle. The centre receives
  NETWORKSTATUSCHANGED (with the tag) whenever the link goes up or down, and once at once when the
  link is already up. Version other than 1: UNSUPPORTEDSTRUCTUREVERSION; a centre that is not open:
  INVALIDHANDLE; bad pointers: PARAMETERFAULT; from an interrupt handler: UNAVAILABLE.
- mvReleaseNetwork(&handle) forgets the request and zeroes the handle.
- mvGetNetworkStatus(handle, &status): CONNECTED while the link is up, CONNECTING while the kernel
  tries to reach its broker, DELIBERATELYOFFLINE on a device that has no broker to reach.
- mvGetNetworkReasons(&reasons, &count): the MvNetworkReason bits of why the kernel keeps the link,
  and how many requests the application holds.
Subscribers of the NETWORK system notification are told of every change of the link too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..common.mv_abi import (
    MvEventType,
    MvNetworkReason,
    MvNetworkStatus,
    MvStatus,
    MvSystemNotificationSource,
    struct_size,
)
from ..device.nsc import CallContext
from .guards import enum_writable, in_interrupt, read_words, writable, write_enum, write_word
from .handles import HandleTable, close_handle

if TYPE_CHECKING:
    from .microvisor import Microvisor

REQUEST_VERSION = 1


@dataclass(frozen=True)
class Request:
    centre: int
    tag: int


def install(kernel: Microvisor) -> Network:
    network = Network(kernel)
    for name in ("mvRequestNetwork", "mvReleaseNetwork", "mvGetNetworkStatus", "mvGetNetworkReasons"):
        kernel.device.syscalls.register(name, getattr(network, name))
    return network


class Network:
    """The application's network requests and what the kernel's link tells them."""

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self.requests: HandleTable[Request] = HandleTable()
        self.ever_requested = False
        self.configured = False  # the device has a broker to reach
        self.up = False
        self.extra_reasons = MvNetworkReason.NOTCONNECTING  # set by the link (updates, pending reports)

    def application_started(self) -> None:
        self.requests.clear()
        self.ever_requested = False

    # --- the link's side ----------------------------------------------------------------------
    def link_changed(self, up: bool) -> None:
        """The link went up or down: tell every request's centre and the NETWORK subscribers."""
        if up == self.up:
            return
        self.up = up
        for _, request in self.requests.items():
            self.kernel.notifications.post(request.centre, MvEventType.NETWORKSTATUSCHANGED, request.tag)
        self.kernel.system_notifications.notify(MvSystemNotificationSource.NETWORK)

    def status(self) -> MvNetworkStatus:
        if self.up:
            return MvNetworkStatus.CONNECTED
        return MvNetworkStatus.CONNECTING if self.configured else MvNetworkStatus.DELIBERATELYOFFLINE

    def reasons(self) -> MvNetworkReason:
        found = MvNetworkReason.NOTCONNECTING | self.extra_reasons
        if len(self.requests):
            found |= MvNetworkReason.USINGNETWORK
        if not self.ever_requested:
            found |= MvNetworkReason.NEVERUSEDNETWORKAPI
        if self.kernel.no_application_reason:
            found |= MvNetworkReason.NOAPPLICATIONCODE
        return found

    # --- system calls -------------------------------------------------------------------------
    def mvRequestNetwork(self, ctx: CallContext) -> int:
        params, handle_out = ctx.arg(0), ctx.arg(1)
        if in_interrupt(ctx):
            return MvStatus.UNAVAILABLE
        fields = read_words(ctx, params, struct_size("MvRequestNetworkParams") // 4)
        if fields is None or not writable(handle_out, 4):
            return MvStatus.PARAMETERFAULT
        version, centre, tag = fields
        if version != REQUEST_VERSION:
            return MvStatus.UNSUPPORTEDSTRUCTUREVERSION
        if not self.kernel.notifications.is_open(centre):
            return MvStatus.INVALIDHANDLE
        handle = self.requests.add(Request(centre, tag))
        self.ever_requested = True
        write_word(ctx, handle_out, handle)
        if self.up:
            self.kernel.notifications.post(centre, MvEventType.NETWORKSTATUSCHANGED, tag)
        return MvStatus.OKAY

    def mvReleaseNetwork(self, ctx: CallContext) -> int:
        if in_interrupt(ctx):
            return MvStatus.UNAVAILABLE
        return close_handle(ctx, ctx.arg(0), self.requests)

    def mvGetNetworkStatus(self, ctx: CallContext) -> int:
        handle, status_out = ctx.arg(0), ctx.arg(1)
        if not enum_writable(status_out, "MvNetworkStatus"):
            return MvStatus.PARAMETERFAULT
        if handle not in self.requests:
            return MvStatus.INVALIDHANDLE
        write_enum(ctx, status_out, "MvNetworkStatus", self.status())
        return MvStatus.OKAY

    def mvGetNetworkReasons(self, ctx: CallContext) -> int:
        reasons_out, count_out = ctx.arg(0), ctx.arg(1)
        if not enum_writable(reasons_out, "MvNetworkReason") or not writable(count_out, 4):
            return MvStatus.PARAMETERFAULT
        write_enum(ctx, reasons_out, "MvNetworkReason", self.reasons())
        write_word(ctx, count_out, len(self.requests))
        return MvStatus.OKAY
