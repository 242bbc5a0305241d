"""Configuration-fetch channels: mvSendConfigFetchRequest and the two calls that read its answer.

One request per channel (REQUESTALREADYSENT after it) of 1 to MAX_CONFIG_ITEMS items (TOOMANYCONFIGKEYS
beyond); each item names a scope (UNKNOWNCONFIGSCOPE), a store (UNKNOWNCONFIGSTORE) and a key of 1 to
MAX_KEY printable ASCII characters (INVALIDCONFIGKEY). An unreadable item array or key is LATEFAULT
(the request counts as sent and failed). The service answers each item in order with a
MvConfigKeyFetchResult and the value; an answer larger than the receive buffer is RESPONSETOOLARGE with
no items.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..common import channel_link as wire
from ..common.link import LinkMessageError
from ..common.mv_abi import (
    MvChannelType,
    MvConfigFetchResult,
    MvConfigKeyFetchResult,
    MvConfigKeyFetchScope,
    MvConfigKeyFetchStore,
    MvEventType,
    MvStatus,
    pack_struct,
    struct_size,
)
from ..device.nsc import CallContext
from .channels import Channel, Channels
from .guards import enum_writable, read_in, read_words, writable, write_enum, write_out, write_word

if TYPE_CHECKING:
    from .microvisor import Microvisor

MAX_KEY = 128
_ITEM_WORDS = struct_size("MvConfigKeyToFetch") // 4


class ConfigState:
    def __init__(self) -> None:
        self.sent = False
        self.result: MvConfigFetchResult | None = None
        self.items: list[tuple[MvConfigKeyFetchResult, bytes]] = []


def install(kernel: Microvisor, channels: Channels) -> ConfigChannels:
    config = ConfigChannels(channels)
    channels.kinds[MvChannelType.CONFIGFETCH] = config
    for name in ("mvSendConfigFetchRequest", "mvReadConfigFetchResponseData", "mvReadConfigResponseItem"):
        kernel.device.syscalls.register(name, getattr(config, name))
    return config


class ConfigChannels:
    def __init__(self, channels: Channels):
        self.channels = channels

    def opened(self, channel: Channel) -> None:
        channel.state = ConfigState()

    def receive(self, channel: Channel, message: dict[str, Any]) -> None:
        state: ConfigState = channel.state
        if message.get("op") != "config" or not state.sent or state.result is not None:
            return
        name = wire.text(message, "result", 32)
        items = message.get("items", [])
        if name not in MvConfigFetchResult.__members__ or not isinstance(items, list) \
                or len(items) > wire.MAX_CONFIG_ITEMS or not all(isinstance(item, dict) for item in items):
            raise LinkMessageError("a configuration answer is malformed")
        found = []
        for item in items:
            key_result = wire.text(item, "result", 32)
            if key_result not in MvConfigKeyFetchResult.__members__:
                raise LinkMessageError(f"a configuration item's result {key_result!r} is unknown")
            value = wire.decode_bytes(item, "value", channel.window)
            found.append((MvConfigKeyFetchResult[key_result], value))
        result = MvConfigFetchResult[name]
        if sum(len(value) + 8 for _, value in found) > channel.receive_size:
            result, found = MvConfigFetchResult.RESPONSETOOLARGE, []
        state.result, state.items = result, found
        self.channels.post(channel, MvEventType.CHANNELDATAREADABLE)

    def _state(self, ctx: CallContext, handle: int) -> ConfigState | int:
        channel = self.channels.channel(ctx, handle, MvChannelType.CONFIGFETCH)
        if not isinstance(channel, Channel):
            return channel
        return channel.state if channel.state.result is not None else MvStatus.RESPONSENOTPRESENT

    # --- system calls -------------------------------------------------------------------------
    def mvSendConfigFetchRequest(self, ctx: CallContext) -> int:
        handle, request = ctx.arg(0), ctx.arg(1)
        channel = self.channels.channel(ctx, handle, MvChannelType.CONFIGFETCH)
        if not isinstance(channel, Channel):
            return channel
        state: ConfigState = channel.state
        if state.sent:
            return MvStatus.REQUESTALREADYSENT
        fields = read_words(ctx, request, 2)
        if fields is None:
            return MvStatus.PARAMETERFAULT
        count, array = fields
        if not 0 < count <= wire.MAX_CONFIG_ITEMS:
            return MvStatus.TOOMANYCONFIGKEYS if count else MvStatus.REQUIREDELEMENTMISSING
        table = read_words(ctx, array, _ITEM_WORDS * count)
        if table is None:
            state.sent = True
            return MvStatus.LATEFAULT
        items, size = [], 0
        for i in range(count):
            scope, store, key_at, key_len = table[_ITEM_WORDS * i : _ITEM_WORDS * (i + 1)]
            if scope not in MvConfigKeyFetchScope.__members__.values():
                return MvStatus.UNKNOWNCONFIGSCOPE
            if store not in MvConfigKeyFetchStore.__members__.values():
                return MvStatus.UNKNOWNCONFIGSTORE
            key = read_in(ctx, key_at, key_len) if key_len <= MAX_KEY else b""
            if key is None:
                state.sent = True
                return MvStatus.LATEFAULT
            if not key or not all(0x20 < c < 0x7F for c in key):
                return MvStatus.INVALIDCONFIGKEY
            items.append({"scope": MvConfigKeyFetchScope(scope).name.lower(),
                          "store": MvConfigKeyFetchStore(store).name.lower(), "key": key.decode("ascii")})
            size += len(key) + 8
        if size > channel.send_size:
            return MvStatus.INVALIDBUFFERSIZE
        state.sent = True
        self.channels.say(channel, "config", items=items)
        return MvStatus.OKAY

    def mvReadConfigFetchResponseData(self, ctx: CallContext) -> int:
        handle, out = ctx.arg(0), ctx.arg(1)
        if not writable(out, struct_size("MvConfigResponseData")):
            return MvStatus.PARAMETERFAULT
        state = self._state(ctx, handle)
        if not isinstance(state, ConfigState):
            return state
        write_out(ctx, out, pack_struct("MvConfigResponseData",
                                        {"result": state.result, "num_items": len(state.items)}))
        return MvStatus.OKAY

    def mvReadConfigResponseItem(self, ctx: CallContext) -> int:
        handle, params = ctx.arg(0), ctx.arg(1)
        fields = read_words(ctx, params, struct_size("MvConfigResponseReadItemParams") // 4)
        if fields is None:
            return MvStatus.PARAMETERFAULT
        index, result_out, data, size, length_out = fields
        if not enum_writable(result_out, "MvConfigKeyFetchResult") or not writable(data, size) \
                or not writable(length_out, 4):
            return MvStatus.PARAMETERFAULT
        state = self._state(ctx, handle)
        if not isinstance(state, ConfigState):
            return state
        if index >= len(state.items):
            return MvStatus.INDEXINVALID
        result, value = state.items[index]
        if len(value) > size:
            return MvStatus.INVALIDBUFFERSIZE
        write_enum(ctx, result_out, "MvConfigKeyFetchResult", result)
        write_out(ctx, data, value)
        write_word(ctx, length_out, len(value))
        return MvStatus.OKAY
