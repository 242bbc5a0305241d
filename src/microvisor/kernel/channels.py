"""The application's channels: one mechanism every channel type shares (open, read, write, close, closure).

A channel holds two buffers of the application's SRAM, checked at open and kept by the kernel until the
channel closes: the receive buffer, a ring the kernel writes what the service sends into, and the send
buffer, whose size bounds what the application may have in flight. Both ways are flow-controlled: the
service sends at most the receive buffer's free space (the application's mvReadChannelComplete gives
it back as credit) and the kernel takes at most the send buffer's free space (the service's credit gives
it back). The typed channels (HTTP, configuration fetch, MQTT) register a `Kind` that serves their own
calls and their messages; the messages travel as common/channel_link.py describes.

mvOpenChannel's rules, in the order they are checked: a readable 44-byte v1 parameter block and a
writable handle (PARAMETERFAULT), version 1 (UNSUPPORTEDSTRUCTUREVERSION), an open notification centre
and network request (INVALIDHANDLE), a known type (UNKNOWNCHANNELTYPE) and, for opaque bytes, a known
endpoint (UNKNOWNCHANNELENDPOINT, a readable name or PARAMETERFAULT), buffers 512-byte aligned
(INVALIDBUFFERALIGNMENT), non-empty whole multiples of 512 bytes (INVALIDBUFFERSIZE), in SRAM
(PARAMETERFAULT) and not shared with another channel or a notification centre (BUFFERALREADYINUSE), the
link up (NETWORKNOTCONNECTED), at most 8 opens in a second of device time (RATELIMITED) and 4 channels
open (TOOMANYCHANNELS). A link that goes down closes every channel (NETWORKDISCONNECTED).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..common import channel_link as wire
from ..common.mv_abi import MvChannelType, MvClosureReason, MvEventType, MvStatus, struct_size
from ..common.link import LinkMessageError
from ..device.nsc import CallContext
from .guards import enum_writable, in_interrupt, read_in, read_words, writable, write_enum, write_word
from .handles import HandleTable

if TYPE_CHECKING:
    from .microvisor import Microvisor

log = logging.getLogger(__name__)

OPEN_VERSION = 1
BUFFER_ALIGNMENT = 512
MAX_CHANNELS = 4
MAX_OPENS_PER_SECOND = 8
MAX_ENDPOINT = 64
_PARAMS_WORDS = struct_size("MvOpenChannelParams") // 4


@dataclass
class Channel:
    """One open channel: its buffers, its place on the wire and what its type keeps."""

    number: int
    type: MvChannelType
    centre: int
    tag: int
    receive: int
    receive_size: int
    send: int
    send_size: int
    closure: MvClosureReason = MvClosureReason.NONE
    head: int = 0  # where the unread bytes of the receive ring start
    filled: int = 0  # unread bytes in the receive ring
    in_flight: int = 0  # bytes the application sent that the service has not yet taken
    up_seq: int = 0
    down_seq: int = 0
    state: Any = None  # the type's own (kernel/http_channel.py, config_channel.py, mqtt_channel.py)

    @property
    def closed(self) -> bool:
        return self.closure != MvClosureReason.NONE

    @property
    def window(self) -> int:
        return min(self.receive_size, wire.MAX_WINDOW)

    def overlaps(self, start: int, size: int) -> bool:
        return any(start < base + length and base < start + size
                   for base, length in ((self.receive, self.receive_size), (self.send, self.send_size)))


class Kind(Protocol):
    """A typed channel's part: what its messages from the service do."""

    def opened(self, channel: Channel) -> None: ...
    def receive(self, channel: Channel, message: dict[str, Any]) -> None: ...


def install(kernel: Microvisor) -> Channels:
    channels = Channels(kernel)
    for name in ("mvOpenChannel", "mvCloseChannel", "mvReadChannel", "mvReadChannelComplete",
                 "mvWriteChannel", "mvWriteChannelStream", "mvGetChannelClosureReason"):
        kernel.device.syscalls.register(name, getattr(channels, name))
    return channels


class Channels:
    """Every open channel of the application, and the link's channel messages."""

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self.table: HandleTable[Channel] = HandleTable()
        self.kinds: dict[MvChannelType, Kind] = {}
        self._by_number: dict[int, Channel] = {}
        self._next_number = 1
        self._opens: deque[int] = deque()  # device time (ns) of recent opens
        self.send: Callable[[dict[str, Any]], bool] = lambda message: False  # set by the link

    def application_started(self) -> None:
        for _, channel in self.table.items():
            self._say_close(channel)
        self.table.clear()
        self._by_number.clear()
        self._opens.clear()

    # --- what other kernel code uses ----------------------------------------------------------
    def channel(self, ctx: CallContext, handle: int, kind: MvChannelType | None) -> Channel | int:
        """The open channel `handle` of type `kind` (any type: None), or the status to return."""
        channel = self.table.get(handle)
        if channel is None or (kind is not None and channel.type != kind):
            return MvStatus.INVALIDHANDLE
        if channel.closed:
            return MvStatus.CHANNELCLOSED
        return channel

    def post(self, channel: Channel, event: MvEventType) -> None:
        self.kernel.notifications.post(channel.centre, event, channel.tag)

    def say(self, channel: Channel, op: str, **fields: Any) -> bool:
        """Send one message of this channel to its relay; False when the link is down."""
        return self.send({"op": op, "ch": channel.number, **fields})

    def close_by_server(self, channel: Channel, reason: MvClosureReason) -> None:
        """The channel ends without the application: tell it (CHANNELNOTCONNECTED)."""
        if channel.closed:
            return
        channel.closure = reason
        self._by_number.pop(channel.number, None)
        self.post(channel, MvEventType.CHANNELNOTCONNECTED)

    def deliver(self, channel: Channel, data: bytes) -> bool:
        """Put bytes into the channel's receive ring; False (nothing written) when they do not fit."""
        if len(data) > channel.receive_size - channel.filled:
            return False
        start = (channel.head + channel.filled) % channel.receive_size
        first = min(len(data), channel.receive_size - start)
        cpu = self.kernel.device.cpu
        cpu.write(channel.receive + start, data[:first])
        if first < len(data):
            cpu.write(channel.receive, data[first:])
        channel.filled += len(data)
        return True

    # --- the link's side ----------------------------------------------------------------------
    def link_down(self) -> None:
        for _, channel in self.table.items():
            self.close_by_server(channel, MvClosureReason.NETWORKDISCONNECTED)

    def receive(self, message: dict[str, Any]) -> None:
        """One ``down/channel`` message (on the emulation thread); a bad one is logged and dropped."""
        try:
            op, number = wire.header(message)
            channel = self._by_number.get(number)
            if channel is None or channel.closed:
                return  # a channel closed meanwhile: what was on its way is moot
            if op == "closed":
                reason = message.get("reason")
                self.close_by_server(channel, MvClosureReason.CHANNELRESETBYSERVER if reason == "reset"
                                     else MvClosureReason.CHANNELCLOSEDBYSERVER)
            elif op == "credit":
                freed = wire.number(message, "bytes", 0, channel.in_flight)
                channel.in_flight -= freed
                if freed:
                    self.post(channel, MvEventType.CHANNELDATAWRITESPACE)
            elif op == "data" and channel.type == MvChannelType.OPAQUEBYTES:
                self._data(channel, message)
            elif channel.type in self.kinds:
                self.kinds[channel.type].receive(channel, message)
        except LinkMessageError as exc:
            log.warning("channel message ignored: %s", exc)

    def _data(self, channel: Channel, message: dict[str, Any]) -> None:
        seq = wire.number(message, "seq")
        data = wire.decode_bytes(message, "data", wire.MAX_DATA)
        if seq != channel.down_seq or not self.deliver(channel, data):
            # out of order or beyond the window: the relay broke the protocol; the stream cannot go on
            log.warning("channel %d: data %d out of order or over the window; resetting", channel.number, seq)
            self.say(channel, "close")
            self.close_by_server(channel, MvClosureReason.UNEXPECTEDLYTERMINATED)
            return
        channel.down_seq += 1
        if data:
            self.post(channel, MvEventType.CHANNELDATAREADABLE)

    # --- system calls -------------------------------------------------------------------------
    def mvOpenChannel(self, ctx: CallContext) -> int:
        params, handle_out = ctx.arg(0), ctx.arg(1)
        if in_interrupt(ctx):
            return MvStatus.UNAVAILABLE
        fields = read_words(ctx, params, _PARAMS_WORDS)
        if fields is None or not writable(handle_out, 4):
            return MvStatus.PARAMETERFAULT
        version, centre, tag, network, receive, receive_size, send, send_size, kind, name, name_len = fields
        if version != OPEN_VERSION:
            return MvStatus.UNSUPPORTEDSTRUCTUREVERSION
        if not self.kernel.notifications.is_open(centre) or network not in self.kernel.network.requests:
            return MvStatus.INVALIDHANDLE
        if kind not in MvChannelType.__members__.values() or \
                (kind != MvChannelType.OPAQUEBYTES and kind not in self.kinds):
            return MvStatus.UNKNOWNCHANNELTYPE
        endpoint = ""
        if kind == MvChannelType.OPAQUEBYTES:
            raw = read_in(ctx, name, name_len) if name_len <= MAX_ENDPOINT else None
            if raw is None:
                too_long = name_len > MAX_ENDPOINT
                return MvStatus.UNKNOWNCHANNELENDPOINT if too_long else MvStatus.PARAMETERFAULT
            endpoint = raw.decode("latin-1")
            if endpoint not in wire.OPAQUE_ENDPOINTS:
                return MvStatus.UNKNOWNCHANNELENDPOINT
        if receive % BUFFER_ALIGNMENT or send % BUFFER_ALIGNMENT:
            return MvStatus.INVALIDBUFFERALIGNMENT
        if not receive_size or not send_size or (receive_size | send_size) % BUFFER_ALIGNMENT:
            return MvStatus.INVALIDBUFFERSIZE
        if not writable(receive, receive_size) or not writable(send, send_size):
            return MvStatus.PARAMETERFAULT
        if self._in_use(receive, receive_size) or self._in_use(send, send_size) or \
                (receive < send + send_size and send < receive + receive_size):
            return MvStatus.BUFFERALREADYINUSE
        if not self.kernel.link.relay_ready:
            return MvStatus.NETWORKNOTCONNECTED
        now = self.kernel.device.clock.now_ns()
        while self._opens and now - self._opens[0] >= 1_000_000_000:
            self._opens.popleft()
        if len(self._opens) >= MAX_OPENS_PER_SECOND:
            return MvStatus.RATELIMITED
        if len(self.table) >= MAX_CHANNELS:
            return MvStatus.TOOMANYCHANNELS
        self._opens.append(now)
        channel = Channel(self._next_number, MvChannelType(kind), centre, tag, receive, receive_size,
                          send, send_size)
        self._next_number += 1
        handle = self.table.add(channel)
        self._by_number[channel.number] = channel
        write_word(ctx, handle_out, handle)
        self.say(channel, "open", type=wire.TYPES[kind], endpoint=endpoint, window=channel.window)
        if channel.type in self.kinds:
            self.kinds[channel.type].opened(channel)
        return MvStatus.OKAY

    def _in_use(self, start: int, size: int) -> bool:
        centres = self.kernel.notifications.centres.items()
        return any(channel.overlaps(start, size) for _, channel in self.table.items()) or \
            any(centre.overlaps(start, size) for _, centre in centres)

    def mvCloseChannel(self, ctx: CallContext) -> int:
        pointer = ctx.arg(0)
        handle = read_words(ctx, pointer, 1)
        if handle is None or not writable(pointer, 4):
            return MvStatus.PARAMETERFAULT
        channel = self.table.pop(handle[0])
        if channel is None:
            return MvStatus.INVALIDHANDLE
        self._say_close(channel)
        write_word(ctx, pointer, 0)
        return MvStatus.OKAY

    def _say_close(self, channel: Channel) -> None:
        if not channel.closed:
            self.say(channel, "close")
            channel.closure = MvClosureReason.CLOSEDBYAPPLICATION
        self._by_number.pop(channel.number, None)

    def mvGetChannelClosureReason(self, ctx: CallContext) -> int:
        handle, reason_out = ctx.arg(0), ctx.arg(1)
        if not enum_writable(reason_out, "MvClosureReason"):
            return MvStatus.PARAMETERFAULT
        channel = self.table.get(handle)
        if channel is None:
            return MvStatus.INVALIDHANDLE
        write_enum(ctx, reason_out, "MvClosureReason", channel.closure)
        return MvStatus.OKAY

    def mvReadChannel(self, ctx: CallContext) -> int:
        handle, pointer_out, length_out = ctx.arg(0), ctx.arg(1), ctx.arg(2)
        if not writable(pointer_out, 4) or not writable(length_out, 4):
            return MvStatus.PARAMETERFAULT
        channel = self.channel(ctx, handle, MvChannelType.OPAQUEBYTES)
        if not isinstance(channel, Channel):
            return channel
        write_word(ctx, pointer_out, channel.receive + channel.head)
        write_word(ctx, length_out, min(channel.filled, channel.receive_size - channel.head))
        return MvStatus.OKAY

    def mvReadChannelComplete(self, ctx: CallContext) -> int:
        handle, consumed = ctx.arg(0), ctx.arg(1)
        channel = self.channel(ctx, handle, MvChannelType.OPAQUEBYTES)
        if not isinstance(channel, Channel):
            return channel
        consumed = min(consumed, channel.filled, channel.receive_size - channel.head)
        if consumed:
            channel.head = (channel.head + consumed) % channel.receive_size
            channel.filled -= consumed
            if not channel.filled:
                channel.head = 0  # an empty ring starts over: the next read is one piece
            self.say(channel, "credit", bytes=consumed)
        return MvStatus.OKAY

    def mvWriteChannel(self, ctx: CallContext) -> int:
        return self._write(ctx, whole=True)

    def mvWriteChannelStream(self, ctx: CallContext) -> int:
        return self._write(ctx, whole=False)

    def _write(self, ctx: CallContext, whole: bool) -> int:
        """mvWriteChannel (all or nothing, reports the space left) and mvWriteChannelStream (as much as
        fits, reports how much): the bytes go to the relay in order, numbered."""
        handle, data, length, out = ctx.arg(0), ctx.arg(1), ctx.arg(2), ctx.arg(3)
        channel = self.channel(ctx, handle, MvChannelType.OPAQUEBYTES)
        if not isinstance(channel, Channel):
            return channel
        payload = read_in(ctx, data, length)
        if payload is None:
            return MvStatus.PARAMETERFAULT
        space = channel.send_size - channel.in_flight
        if whole and len(payload) > space:
            return MvStatus.INVALIDBUFFERSIZE if write_word(ctx, out, space) else MvStatus.PARAMETERFAULT
        taken = payload[:space]
        for start in range(0, len(taken), wire.MAX_DATA):
            piece = taken[start : start + wire.MAX_DATA]
            self.say(channel, "data", seq=channel.up_seq, data=wire.encode_bytes(piece))
            channel.up_seq += 1
        channel.in_flight += len(taken)
        reported = channel.send_size - channel.in_flight if whole else len(taken)
        if not write_word(ctx, out, reported):
            return MvStatus.LATEFAULT if taken else MvStatus.PARAMETERFAULT
        return MvStatus.OKAY


def sized_string(ctx: CallContext, address: int, limit: int) -> bytes | None:
    """The bytes an MvSizedString {data, length} at `address` names (its length at most `limit`), or None."""
    fields = read_words(ctx, address, 2)
    if fields is None or fields[1] > limit:
        return None
    return read_in(ctx, fields[0], fields[1])
