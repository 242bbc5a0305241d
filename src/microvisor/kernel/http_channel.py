"""HTTP channels: mvSendHttpRequest and the three calls that read the response the service fetched.

One request per channel (REQUESTALREADYSENT after it). The request's outer structure is checked first
(PARAMETERFAULT), then what it points to (LATEFAULT: the request counts as sent and failed), then its
size against the send buffer (INVALIDBUFFERSIZE, nothing sent) and its header count (TOOMANYELEMENTS).
The service answers with MvHttpResponseData's fields, the headers ("Name: value") and the body; a
response larger than the receive buffer arrives as RESPONSETOOLARGE without headers or body. Headers and
body of a response whose result is not OK cannot be read (REQUESTUNSUCCESSFUL).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..common import channel_link as wire
from ..common.link import LinkMessageError
from ..common.mv_abi import MvChannelType, MvEventType, MvHttpResult, MvStatus, pack_struct, struct_size
from ..device.nsc import CallContext
from .channels import Channel, Channels
from .guards import read_in, read_words, writable, write_out

if TYPE_CHECKING:
    from .microvisor import Microvisor

_REQUEST_WORDS = struct_size("MvHttpRequest") // 4
MAX_FIELD = 64 * 1024  # bytes of a method, URL, header or body the kernel reads at all


class HttpState:
    def __init__(self) -> None:
        self.sent = False
        self.result: MvHttpResult | None = None
        self.status = 0
        self.headers: list[bytes] = []
        self.body = b""


def install(kernel: Microvisor, channels: Channels) -> HttpChannels:
    http = HttpChannels(channels)
    channels.kinds[MvChannelType.HTTP] = http
    for name in ("mvSendHttpRequest", "mvReadHttpResponseData", "mvReadHttpResponseHeader",
                 "mvReadHttpResponseBody"):
        kernel.device.syscalls.register(name, getattr(http, name))
    return http


class HttpChannels:
    def __init__(self, channels: Channels):
        self.channels = channels

    def opened(self, channel: Channel) -> None:
        channel.state = HttpState()

    def receive(self, channel: Channel, message: dict[str, Any]) -> None:
        state: HttpState = channel.state
        if message.get("op") != "http" or not state.sent or state.result is not None:
            return
        name = wire.text(message, "result", 32)
        if name not in MvHttpResult.__members__:
            raise LinkMessageError(f"an HTTP response's result {name!r} is unknown")
        headers = wire.strings(message, "headers", 256, channel.window)
        body = wire.decode_bytes(message, "body", channel.window)
        size = len(body) + sum(len(h) for h in headers)
        result = MvHttpResult[name]
        if size > channel.receive_size:
            result, headers, body = MvHttpResult.RESPONSETOOLARGE, [], b""
        state.result, state.status = result, wire.number(message, "status", 0, 999)
        state.headers, state.body = [h.encode("latin-1", "replace") for h in headers], body
        self.channels.deliver(channel, body[: channel.receive_size])  # the body sits in the receive buffer
        self.channels.post(channel, MvEventType.CHANNELDATAREADABLE)

    def _response(self, ctx: CallContext, handle: int, readable: bool) -> HttpState | int:
        channel = self.channels.channel(ctx, handle, MvChannelType.HTTP)
        if not isinstance(channel, Channel):
            return channel
        state: HttpState = channel.state
        if state.result is None:
            return MvStatus.RESPONSENOTPRESENT
        if readable and state.result != MvHttpResult.OK:
            return MvStatus.REQUESTUNSUCCESSFUL
        return state

    # --- system calls -------------------------------------------------------------------------
    def mvSendHttpRequest(self, ctx: CallContext) -> int:
        handle, request = ctx.arg(0), ctx.arg(1)
        channel = self.channels.channel(ctx, handle, MvChannelType.HTTP)
        if not isinstance(channel, Channel):
            return channel
        state: HttpState = channel.state
        if state.sent:
            return MvStatus.REQUESTALREADYSENT
        fields = read_words(ctx, request, _REQUEST_WORDS)
        if fields is None:
            return MvStatus.PARAMETERFAULT
        method_at, method_len, url_at, url_len, count, headers_at, body_at, body_len, timeout_ms = fields
        if count > wire.MAX_HTTP_HEADERS:
            return MvStatus.TOOMANYELEMENTS
        method = _bytes(ctx, method_at, method_len)
        url = _bytes(ctx, url_at, url_len)
        body = _bytes(ctx, body_at, body_len)
        table = read_words(ctx, headers_at, 2 * count) if count else ()
        headers = None if table is None else \
            [_bytes(ctx, table[2 * i + 1], table[2 * i]) for i in range(count)]
        if method is None or url is None or body is None or headers is None or None in headers:
            state.sent, state.result = True, MvHttpResult.REQUESTFAILED
            return MvStatus.LATEFAULT
        if len(method) + len(url) + len(body) + sum(len(h) for h in headers) > channel.send_size:
            return MvStatus.INVALIDBUFFERSIZE
        state.sent = True
        self.channels.say(channel, "http", method=method.decode("latin-1"), url=url.decode("latin-1"),
                          headers=[h.decode("latin-1") for h in headers], body=wire.encode_bytes(body),
                          timeout_ms=timeout_ms)
        return MvStatus.OKAY

    def mvReadHttpResponseData(self, ctx: CallContext) -> int:
        handle, out = ctx.arg(0), ctx.arg(1)
        if not writable(out, struct_size("MvHttpResponseData")):
            return MvStatus.PARAMETERFAULT
        state = self._response(ctx, handle, readable=False)
        if not isinstance(state, HttpState):
            return state
        write_out(ctx, out, pack_struct("MvHttpResponseData", {
            "result": state.result, "status_code": state.status, "num_headers": len(state.headers),
            "body_length": len(state.body)}))
        return MvStatus.OKAY

    def mvReadHttpResponseHeader(self, ctx: CallContext) -> int:
        handle, index, buf, size = ctx.arg(0), ctx.arg(1), ctx.arg(2), ctx.arg(3)
        if not writable(buf, size):
            return MvStatus.PARAMETERFAULT
        state = self._response(ctx, handle, readable=True)
        if not isinstance(state, HttpState):
            return state
        if index >= len(state.headers):
            return MvStatus.INDEXINVALID
        write_out(ctx, buf, state.headers[index][:size])
        return MvStatus.OKAY

    def mvReadHttpResponseBody(self, ctx: CallContext) -> int:
        handle, offset, buf, size = ctx.arg(0), ctx.arg(1), ctx.arg(2), ctx.arg(3)
        if not writable(buf, size):
            return MvStatus.PARAMETERFAULT
        state = self._response(ctx, handle, readable=True)
        if not isinstance(state, HttpState):
            return state
        if offset > len(state.body):
            return MvStatus.OFFSETINVALID
        write_out(ctx, buf, state.body[offset : offset + size])
        return MvStatus.OKAY


def _bytes(ctx: CallContext, address: int, length: int) -> bytes | None:
    return read_in(ctx, address, length) if length <= MAX_FIELD else None
