"""MQTT channels: the application's session with its broker, which the service holds (cloud/mqtt_bridge.py).

The calls only queue: each request goes up as ``{"op": "mqtt", "request": ...}`` and is answered later
by a ``{"op": "mqtt", "response": ...}`` that waits, with the messages the broker sends, in the channel's
queue in arrival order. mvMqttGetNextReadableDataType names the queue's head (NONE when it is empty);
each read call takes the head only when it is of its own type (WRONGDATAREQUESTED otherwise,
RESPONSENOTPRESENT when nothing waits) and leaves it when its output does not fit (INVALIDBUFFERSIZE).
Every queued item is announced with CHANNELDATAREADABLE.

A request's checks, in order: the handle (INVALIDHANDLE, CHANNELCLOSED); for a connect, one under way
or established already (REQUESTALREADYSENT; a disconnect under way is REQUESTALREADYSENT too, one while
connecting UNAVAILABLE); the structure the argument points to (PARAMETERFAULT); at most MAX_IN_FLIGHT
subscribe/unsubscribe/publish requests unanswered or with an answer not yet read (RATELIMITED); 1 to 8
topics, at most 8 certificates per chain (REQUIREDELEMENTMISSING, TOOMANYELEMENTS); an authentication
method the header names, and a username with USERNAMEPASSWORD (INVALIDAUTHENTICATION); each string's
length against its limit (INPUTTOOLONG); then what the structure points to: memory that is not the
application's is LATEFAULT, the request counting as sent and answered INVALIDPARAMETERS; a host, port,
topic or client key that is required and empty (REQUIREDELEMENTMISSING); the request's bytes against the
send buffer and MAX_REQUEST (INVALIDBUFFERSIZE). Values the header's types allow but MQTT does not (an
unknown protocol version, QoS above 1, a topic that is not UTF-8 or a publish topic with a wildcard, a
keepalive above 65535 s) are accepted and answered INVALIDPARAMETERS; a subscribe, unsubscribe or publish
while not connected is answered NOTCONNECTED. A read call checks every output pointer first
(PARAMETERFAULT), then the handle and the queue's head, and takes nothing unless all of it fits.

Received messages are flow-controlled: the relay sends one only when its bytes (topic and payload) fit
in what is left of the receive buffer's window, and the kernel gives them back (``credit``) when the
application has taken the message. One that does not fit (the relay's accounting broken) becomes a
MESSAGELOST item at once, its bytes given back. A message with QoS 1 is acknowledged to the broker only
by mvMqttAcknowledgeMessage with its correlation id (INDEXINVALID for an id no taken message awaits).

The wire, up (``request``): connect {version: "3.1.1"|"5", host, port, client_id, username: str|null,
password: b64|null, tls: bool, ca: [b64], cert: [b64], key: b64, keepalive, clean_start: bool,
will: {topic, payload: b64, qos, retain: bool}|null}; subscribe {id, topics: [{topic, qos, nl, rap, rh}]};
unsubscribe {id, topics: [str]}; publish {id, topic, payload: b64, qos, retain: bool}; ack {id};
disconnect {}. Down (``response``): connect {state, reason}; subscribe, unsubscribe {state, id,
reasons: [int]}; publish {state, id, reason}; disconnect {state, reason}; message {id, topic,
payload: b64, qos, retain: bool}; lost {topic, length}. ``state`` is an MvMqttRequestState name.
"""

from __future__ import annotations

import logging
import struct
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from ..common import channel_link as wire
from ..common.link import LinkMessageError
from ..common.mv_abi import (
    STRUCTS,
    MvChannelType,
    MvEventType,
    MvMqttAuthenticationMethod,
    MvMqttLostMessageReason,
    MvMqttProtocolVersion,
    MvMqttReadableDataType,
    MvMqttRequestState,
    MvStatus,
    pack_struct,
    struct_size,
)
from ..device.nsc import CallContext
from .channels import Channel, Channels
from .guards import enum_writable, read_in, writable, write_enum, write_out, write_word

if TYPE_CHECKING:
    from .microvisor import Microvisor

log = logging.getLogger(__name__)

MAX_ELEMENTS = wire.MAX_MQTT_ELEMENTS  # topics per (un)subscribe, certificates per chain
MAX_IN_FLIGHT = 16  # subscribe/unsubscribe/publish requests not yet answered, or answered and not yet read
MAX_REQUEST = 48 * 1024  # bytes of one request (its JSON, base64 and all, stays under MAX_MESSAGE)
MAX_QUEUE = 256  # items waiting to be read (responses are bounded by MAX_IN_FLIGHT, messages by the window)
MAX_UNACKED = 64  # QoS 1 messages taken and not yet acknowledged
MAX_HOST = 253
MAX_CLIENT_ID = 256
MAX_USERNAME = 256
MAX_PASSWORD = 1024
MAX_TOPIC = 1024
MAX_CERTIFICATE = 16 * 1024  # a certificate or a key, PEM or DER
MAX_KEEPALIVE = 0xFFFF
VERSIONS = {MvMqttProtocolVersion.V3_1_1: "3.1.1", MvMqttProtocolVersion.V5: "5"}

_WORD = struct.Struct("<I")
_OFFSETS = {name: {path: offset for path, (offset, _) in fields.items()}
            for name, (_, _, fields) in STRUCTS.items()}
_RESPONSES = {"connect": MvMqttReadableDataType.CONNECTRESPONSE,
              "subscribe": MvMqttReadableDataType.SUBSCRIBERESPONSE,
              "unsubscribe": MvMqttReadableDataType.UNSUBSCRIBERESPONSE,
              "publish": MvMqttReadableDataType.PUBLISHRESPONSE,
              "disconnect": MvMqttReadableDataType.DISCONNECTRESPONSE}
_COUNTED = ("subscribe", "unsubscribe", "publish")  # the requests MAX_IN_FLIGHT counts


class Session(Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTING = "disconnecting"


@dataclass
class Item:
    """One readable thing: a response or a message, with what it reports; `size`: window bytes it holds."""

    kind: MvMqttReadableDataType
    values: dict[str, Any]
    size: int = 0


@dataclass
class MqttState:
    session: Session = Session.IDLE
    queue: deque[Item] = field(default_factory=deque)
    held: int = 0  # bytes of queued messages, against the receive buffer
    awaiting: Counter[str] = field(default_factory=Counter)  # requests sent, not yet answered, by kind
    unacked: dict[int, None] = field(default_factory=dict)  # ids of taken QoS 1 messages, oldest first

    def in_flight(self) -> int:
        answered = sum(1 for item in self.queue if item.kind in (
            MvMqttReadableDataType.SUBSCRIBERESPONSE, MvMqttReadableDataType.UNSUBSCRIBERESPONSE,
            MvMqttReadableDataType.PUBLISHRESPONSE))
        return sum(self.awaiting[kind] for kind in _COUNTED) + answered


class LateFault(Exception):
    """What the request points to is not the application's memory: LATEFAULT, answered as failed."""


class Refused(Exception):
    """The request is refused with this status; nothing is sent."""

    def __init__(self, status: MvStatus):
        super().__init__(status.name)
        self.status = status


class Invalid(Exception):
    """The request is accepted and answered INVALIDPARAMETERS (MQTT does not allow what it asks)."""


Built = tuple[dict[str, Any], int | None]  # a request's wire fields and its correlation id
Builder = Callable[[CallContext, Channel, MqttState, int], Built]


def install(kernel: Microvisor, channels: Channels) -> MqttChannels:
    mqtt = MqttChannels(channels)
    channels.kinds[MvChannelType.MQTT] = mqtt
    for name in ("mvMqttGetNextReadableDataType", "mvMqttRequestConnect", "mvMqttReadConnectResponse",
                 "mvMqttRequestSubscribe", "mvMqttReadSubscribeResponse", "mvMqttRequestUnsubscribe",
                 "mvMqttReadUnsubscribeResponse", "mvMqttRequestPublish", "mvMqttReadPublishResponse",
                 "mvMqttReceiveMessage", "mvMqttReceiveLostMessageInfo", "mvMqttAcknowledgeMessage",
                 "mvMqttRequestDisconnect", "mvMqttReadDisconnectResponse"):
        kernel.device.syscalls.register(name, getattr(mqtt, name))
    return mqtt


class MqttChannels:
    def __init__(self, channels: Channels):
        self.channels = channels

    def opened(self, channel: Channel) -> None:
        channel.state = MqttState()

    # --- from the relay -----------------------------------------------------------------------
    def receive(self, channel: Channel, message: dict[str, Any]) -> None:
        state: MqttState = channel.state
        if message.get("op") != "mqtt":
            return
        kind = wire.text(message, "response", 16)
        if kind == "message":
            self._message(channel, state, message)
        elif kind == "lost":
            self._queue(channel, Item(MvMqttReadableDataType.MESSAGELOST, {
                "topic": wire.text(message, "topic", MAX_TOPIC).encode(),
                "length": wire.number(message, "length")}))
        elif kind in _RESPONSES:
            self._response(channel, state, kind, message)
        else:
            raise LinkMessageError(f"an MQTT response {kind!r} is unknown")

    def _response(self, channel: Channel, state: MqttState, kind: str, message: dict[str, Any]) -> None:
        name = wire.text(message, "state", 32)
        if name not in MvMqttRequestState.__members__:
            raise LinkMessageError(f"an MQTT request state {name!r} is unknown")
        values: dict[str, Any] = {"state": MvMqttRequestState[name]}
        if kind == "connect":
            if state.session != Session.CONNECTING:
                return
            values["reason"] = wire.number(message, "reason", 0, 255)
        elif kind == "disconnect":
            if state.session != Session.DISCONNECTING:
                return
            values["reason"] = wire.number(message, "reason", 0, 255)
        else:
            if not state.awaiting[kind]:
                return  # nothing of that kind was asked
            values["id"] = wire.number(message, "id")
            if kind == "publish":
                values["reason"] = wire.number(message, "reason", 0, 255)
            else:
                codes = message.get("reasons", [])
                if not isinstance(codes, list) or len(codes) > MAX_ELEMENTS or \
                        not all(type(code) is int and 0 <= code <= 255 for code in codes):
                    raise LinkMessageError("an MQTT response's reason codes are malformed")
                values["reasons"] = codes
            state.awaiting[kind] -= 1
        self._answered(channel, state, kind, values)

    def _answered(self, channel: Channel, state: MqttState, kind: str, values: dict[str, Any]) -> None:
        """Queue a response (the relay's or the kernel's own) and follow the session's state."""
        if kind == "connect":
            succeeded = values["state"] == MvMqttRequestState.REQUESTCOMPLETED and values["reason"] == 0
            state.session = Session.CONNECTED if succeeded else Session.IDLE
        elif kind == "disconnect":
            state.session = Session.IDLE
        self._queue(channel, Item(_RESPONSES[kind], values))

    def _message(self, channel: Channel, state: MqttState, message: dict[str, Any]) -> None:
        topic = wire.text(message, "topic", wire.MAX_WINDOW).encode()
        payload = wire.decode_bytes(message, "payload", wire.MAX_WINDOW)
        values = {"id": wire.number(message, "id"), "topic": topic, "payload": payload,
                  "qos": wire.number(message, "qos", 0, 2), "retain": bool(message.get("retain"))}
        size = len(topic) + len(payload)
        if size > channel.receive_size - state.held or len(state.queue) >= MAX_QUEUE:
            log.warning("MQTT channel %d: a message of %d bytes does not fit; lost", channel.number, size)
            self.channels.say(channel, "credit", bytes=size)  # the relay counted it against the window
            self._queue(channel, Item(MvMqttReadableDataType.MESSAGELOST, {"topic": topic, "length": size}))
            return
        state.held += size
        self._queue(channel, Item(MvMqttReadableDataType.MESSAGERECEIVED, values, size))

    def _queue(self, channel: Channel, item: Item) -> None:
        state: MqttState = channel.state
        if len(state.queue) >= MAX_QUEUE:
            log.warning("MQTT channel %d: its queue is full; %s dropped", channel.number, item.kind.name)
            return
        state.queue.append(item)
        self.channels.post(channel, MvEventType.CHANNELDATAREADABLE)

    # --- what the calls share -----------------------------------------------------------------
    def _open(self, ctx: CallContext, handle: int) -> Channel | int:
        return self.channels.channel(ctx, handle, MvChannelType.MQTT)

    def _head(self, channel: Channel, kind: MvMqttReadableDataType) -> Item | int:
        queue = channel.state.queue
        if not queue:
            return MvStatus.RESPONSENOTPRESENT
        return queue[0] if queue[0].kind == kind else MvStatus.WRONGDATAREQUESTED

    def _take(self, channel: Channel) -> Item:
        return channel.state.queue.popleft()

    def _request(self, ctx: CallContext, kind: str, build: Builder) -> int:
        """Check, build and send one request: `build` returns its wire fields and correlation id, or
        raises Refused (a status, nothing sent), LateFault or Invalid (answered here as failed)."""
        channel = self._open(ctx, ctx.arg(0))
        if not isinstance(channel, Channel):
            return channel
        state: MqttState = channel.state
        correlation = None
        try:
            fields, correlation = build(ctx, channel, state, ctx.arg(1))
        except Refused as refused:
            return refused.status
        except LateFault as fault:
            correlation = fault.args[0] if fault.args else None
            self._fail(channel, state, kind, correlation, MvMqttRequestState.INVALIDPARAMETERS)
            return MvStatus.LATEFAULT
        except Invalid as invalid:
            correlation = invalid.args[0] if invalid.args else None
            self._fail(channel, state, kind, correlation, MvMqttRequestState.INVALIDPARAMETERS)
            return MvStatus.OKAY
        if kind in _COUNTED and state.session != Session.CONNECTED:
            self._fail(channel, state, kind, correlation, MvMqttRequestState.NOTCONNECTED)
            return MvStatus.OKAY
        if kind == "connect":
            state.session = Session.CONNECTING
        elif kind == "disconnect":
            state.session = Session.DISCONNECTING
        elif kind in _COUNTED:
            state.awaiting[kind] += 1
        self.channels.say(channel, "mqtt", request=kind, **fields)
        return MvStatus.OKAY

    def _fail(self, channel: Channel, state: MqttState, kind: str, correlation: int | None,
              request_state: MvMqttRequestState) -> None:
        """Answer a request here, without the relay."""
        values: dict[str, Any] = {"state": request_state}
        if kind in ("connect", "disconnect", "publish"):
            values["reason"] = 0
        if kind in ("subscribe", "unsubscribe", "publish"):
            values["id"] = correlation or 0
        if kind in ("subscribe", "unsubscribe"):
            values["reasons"] = []
        if kind == "connect":
            state.session = Session.CONNECTING  # so that _answered takes it back to IDLE
        self._answered(channel, state, kind, values)

    # --- system calls: requests ---------------------------------------------------------------
    def mvMqttRequestConnect(self, ctx: CallContext) -> int:
        return self._request(ctx, "connect", self._connect)

    def _connect(self, ctx: CallContext, channel: Channel, state: MqttState, address: int) -> Built:
        if state.session != Session.IDLE:
            raise Refused(MvStatus.REQUESTALREADYSENT)
        raw = _struct(ctx, address, "MvMqttConnectRequest")
        at = _OFFSETS["MvMqttConnectRequest"]
        method = raw[at["authentication"]]
        if method not in MvMqttAuthenticationMethod.__members__.values():
            raise Refused(MvStatus.INVALIDAUTHENTICATION)
        user_at = at["authentication"] + _OFFSETS["MvMqttAuthentication"]["username_password"]
        host_ref, client_ref = _sized_at(raw, at["host"]), _sized_at(raw, at["clientid"])
        user_ref, password_ref = _sized_at(raw, user_at), _sized_at(raw, user_at + 8)
        _limit(host_ref, MAX_HOST)
        _limit(client_ref, MAX_CLIENT_ID)
        if method == MvMqttAuthenticationMethod.USERNAMEPASSWORD:
            _limit(user_ref, MAX_USERNAME)
            _limit(password_ref, MAX_PASSWORD)
            if not user_ref[1]:
                raise Refused(MvStatus.INVALIDAUTHENTICATION)
        port = int.from_bytes(raw[at["port"] : at["port"] + 2], "little")
        if not host_ref[1] or not port:
            raise Refused(MvStatus.REQUIREDELEMENTMISSING)
        tls_at, will_at = _word(raw, at["tls_credentials"]), _word(raw, at["will"])
        # What the request points to, from here on: unreadable memory is LATEFAULT.
        host, client_id = _nested(ctx, host_ref), _nested(ctx, client_ref)
        username = password = None
        if method == MvMqttAuthenticationMethod.USERNAMEPASSWORD:
            username, password = _nested(ctx, user_ref), _nested(ctx, password_ref)
        ca: list[bytes] = []
        chain: list[bytes] = []
        key = b""
        if tls_at:
            tls = _nested_struct(ctx, tls_at, "MvTlsCredentials")
            ca = _certificates(ctx, tls, 0)
            chain = _certificates(ctx, tls, _OFFSETS["MvTlsCredentials"]["clientcert"])
            key_ref = _sized_at(tls, _OFFSETS["MvTlsCredentials"]["clientcert"] + 8)
            _limit(key_ref, MAX_CERTIFICATE)
            key = _nested(ctx, key_ref)
            if bool(chain) != bool(key):
                raise Refused(MvStatus.REQUIREDELEMENTMISSING)
        will = None
        will_bytes = 0
        if will_at:
            fields = _nested_struct(ctx, will_at, "MvMqttWill")
            topic_ref, payload_ref = _sized_at(fields, 0), _sized_at(fields, 8)
            _limit(topic_ref, MAX_TOPIC)
            _limit(payload_ref, MAX_REQUEST)
            topic, payload = _nested(ctx, topic_ref), _nested(ctx, payload_ref)
            qos, retain = _word(fields, 16), fields[20]
            if not topic:
                raise Refused(MvStatus.REQUIREDELEMENTMISSING)
            will = {"topic": _topic(topic, publish=True), "payload": wire.encode_bytes(payload),
                    "qos": _qos(qos), "retain": _flag(retain)}
            will_bytes = len(topic) + len(payload)
        size = len(host) + len(client_id) + len(username or b"") + len(password or b"") + len(key) + \
            sum(map(len, ca + chain)) + will_bytes
        if size > min(channel.send_size, MAX_REQUEST):
            raise Refused(MvStatus.INVALIDBUFFERSIZE)
        version = _word(raw, at["protocol_version"])
        keepalive = _word(raw, at["keepalive"])
        if version not in VERSIONS or keepalive > MAX_KEEPALIVE or \
                not all(0x20 < c < 0x7F for c in host):
            raise Invalid()
        fields = {"version": VERSIONS[MvMqttProtocolVersion(version)], "host": host.decode("ascii"),
                  "port": port, "client_id": _utf8(client_id),
                  "username": None if username is None else _utf8(username),
                  "password": None if password is None else wire.encode_bytes(password),
                  "tls": bool(tls_at), "ca": [wire.encode_bytes(c) for c in ca],
                  "cert": [wire.encode_bytes(c) for c in chain], "key": wire.encode_bytes(key),
                  "keepalive": keepalive, "clean_start": _flag(raw[at["clean_start"]]), "will": will}
        return fields, None

    def mvMqttRequestSubscribe(self, ctx: CallContext) -> int:
        return self._request(ctx, "subscribe", self._subscribe)

    def _subscribe(self, ctx: CallContext, channel: Channel, state: MqttState, address: int) -> Built:
        raw = _struct(ctx, address, "MvMqttSubscribeRequest")
        correlation, table_at, count = _word(raw, 0), _word(raw, 4), _word(raw, 8)
        self._admit(state, count)
        entry = struct_size("MvMqttSubscription")
        table = _nested(ctx, (table_at, entry * count), correlation)
        topics, size = [], 0
        for i in range(count):
            row = table[entry * i : entry * (i + 1)]
            ref = _sized_at(row, 0)
            _limit(ref, MAX_TOPIC)
            topics.append((_nested(ctx, ref, correlation), _word(row, 8), _word(row, 12), _word(row, 16),
                           _word(row, 20)))
        if not all(topic for topic, *_ in topics):
            raise Refused(MvStatus.REQUIREDELEMENTMISSING)
        size = sum(len(topic) + 4 for topic, *_ in topics)
        if size > min(channel.send_size, MAX_REQUEST):
            raise Refused(MvStatus.INVALIDBUFFERSIZE)
        try:
            wanted = [{"topic": _topic(topic, publish=False), "qos": _qos(qos), "nl": _flag(nl),
                       "rap": _flag(rap), "rh": _small(rh, 2)} for topic, qos, nl, rap, rh in topics]
        except Invalid:
            raise Invalid(correlation) from None
        return {"id": correlation, "topics": wanted}, correlation

    def mvMqttRequestUnsubscribe(self, ctx: CallContext) -> int:
        return self._request(ctx, "unsubscribe", self._unsubscribe)

    def _unsubscribe(self, ctx: CallContext, channel: Channel, state: MqttState, address: int) -> Built:
        raw = _struct(ctx, address, "MvMqttUnsubscribeRequest")
        correlation, table_at, count = _word(raw, 0), _word(raw, 4), _word(raw, 8)
        self._admit(state, count)
        entry = struct_size("MvSizedString")
        table = _nested(ctx, (table_at, entry * count), correlation)
        refs = [_sized_at(table, entry * i) for i in range(count)]
        for ref in refs:
            _limit(ref, MAX_TOPIC)
        topics = [_nested(ctx, ref, correlation) for ref in refs]
        if not all(topics):
            raise Refused(MvStatus.REQUIREDELEMENTMISSING)
        if sum(map(len, topics)) > min(channel.send_size, MAX_REQUEST):
            raise Refused(MvStatus.INVALIDBUFFERSIZE)
        try:
            names = [_topic(topic, publish=False) for topic in topics]
        except Invalid:
            raise Invalid(correlation) from None
        return {"id": correlation, "topics": names}, correlation

    def mvMqttRequestPublish(self, ctx: CallContext) -> int:
        return self._request(ctx, "publish", self._publish)

    def _publish(self, ctx: CallContext, channel: Channel, state: MqttState, address: int) -> Built:
        raw = _struct(ctx, address, "MvMqttPublishRequest")
        at = _OFFSETS["MvMqttPublishRequest"]
        correlation = _word(raw, at["correlation_id"])
        self._admit(state, 1)
        topic_ref, payload_ref = _sized_at(raw, at["topic"]), _sized_at(raw, at["payload"])
        _limit(topic_ref, MAX_TOPIC)
        if not topic_ref[1]:
            raise Refused(MvStatus.REQUIREDELEMENTMISSING)
        if topic_ref[1] + payload_ref[1] > min(channel.send_size, MAX_REQUEST):
            raise Refused(MvStatus.INVALIDBUFFERSIZE)
        topic, payload = _nested(ctx, topic_ref, correlation), _nested(ctx, payload_ref, correlation)
        try:
            fields = {"id": correlation, "topic": _topic(topic, publish=True),
                      "payload": wire.encode_bytes(payload), "qos": _qos(_word(raw, at["desired_qos"])),
                      "retain": _flag(_word(raw, at["retain"]))}
        except Invalid:
            raise Invalid(correlation) from None
        return fields, correlation

    def _admit(self, state: MqttState, count: int) -> None:
        if state.in_flight() >= MAX_IN_FLIGHT:
            raise Refused(MvStatus.RATELIMITED)
        if not count:
            raise Refused(MvStatus.REQUIREDELEMENTMISSING)
        if count > MAX_ELEMENTS:
            raise Refused(MvStatus.TOOMANYELEMENTS)

    def mvMqttRequestDisconnect(self, ctx: CallContext) -> int:
        channel = self._open(ctx, ctx.arg(0))
        if not isinstance(channel, Channel):
            return channel
        state: MqttState = channel.state
        if state.session == Session.DISCONNECTING:
            return MvStatus.REQUESTALREADYSENT
        if state.session == Session.CONNECTING:
            return MvStatus.UNAVAILABLE
        if state.session == Session.IDLE:
            state.session = Session.DISCONNECTING
            self._answered(channel, state, "disconnect",
                           {"state": MvMqttRequestState.NOTCONNECTED, "reason": 0})
            return MvStatus.OKAY
        state.session = Session.DISCONNECTING
        self.channels.say(channel, "mqtt", request="disconnect")
        return MvStatus.OKAY

    def mvMqttAcknowledgeMessage(self, ctx: CallContext) -> int:
        handle, correlation = ctx.arg(0), ctx.arg(1)
        channel = self._open(ctx, handle)
        if not isinstance(channel, Channel):
            return channel
        state: MqttState = channel.state
        if correlation not in state.unacked:
            return MvStatus.INDEXINVALID
        del state.unacked[correlation]
        self.channels.say(channel, "mqtt", request="ack", id=correlation)
        return MvStatus.OKAY

    # --- system calls: reads ------------------------------------------------------------------
    def mvMqttGetNextReadableDataType(self, ctx: CallContext) -> int:
        handle, out = ctx.arg(0), ctx.arg(1)
        if not enum_writable(out, "MvMqttReadableDataType"):
            return MvStatus.PARAMETERFAULT
        channel = self._open(ctx, handle)
        if not isinstance(channel, Channel):
            return channel
        queue = channel.state.queue
        head = queue[0].kind if queue else MvMqttReadableDataType.NONE
        write_enum(ctx, out, "MvMqttReadableDataType", head)
        return MvStatus.OKAY

    def _read_whole(self, ctx: CallContext, kind: MvMqttReadableDataType, name: str, fields) -> int:
        """A read whose output is one structure written whole: connect, publish, disconnect."""
        handle, out = ctx.arg(0), ctx.arg(1)
        if not writable(out, struct_size(name)):
            return MvStatus.PARAMETERFAULT
        channel = self._open(ctx, handle)
        if not isinstance(channel, Channel):
            return channel
        item = self._head(channel, kind)
        if not isinstance(item, Item):
            return item
        write_out(ctx, out, pack_struct(name, fields(item.values)))
        self._take(channel)
        return MvStatus.OKAY

    def mvMqttReadConnectResponse(self, ctx: CallContext) -> int:
        return self._read_whole(ctx, MvMqttReadableDataType.CONNECTRESPONSE, "MvMqttConnectResponse",
                                lambda v: {"request_state": v["state"], "reason_code": v["reason"]})

    def mvMqttReadPublishResponse(self, ctx: CallContext) -> int:
        return self._read_whole(ctx, MvMqttReadableDataType.PUBLISHRESPONSE, "MvMqttPublishResponse",
                                lambda v: {"request_state": v["state"], "correlation_id": v["id"],
                                           "reason_code": v["reason"]})

    def mvMqttReadDisconnectResponse(self, ctx: CallContext) -> int:
        return self._read_whole(ctx, MvMqttReadableDataType.DISCONNECTRESPONSE, "MvMqttDisconnectResponse",
                                lambda v: {"request_state": v["state"], "disconnect_code": v["reason"]})

    def mvMqttReadSubscribeResponse(self, ctx: CallContext) -> int:
        return self._read_codes(ctx, MvMqttReadableDataType.SUBSCRIBERESPONSE, "MvMqttSubscribeResponse")

    def mvMqttReadUnsubscribeResponse(self, ctx: CallContext) -> int:
        return self._read_codes(ctx, MvMqttReadableDataType.UNSUBSCRIBERESPONSE, "MvMqttUnsubscribeResponse")

    def _read_codes(self, ctx: CallContext, kind: MvMqttReadableDataType, name: str) -> int:
        """A (un)subscribe response: through the pointers of an MvMqtt(Un)subscribeResponse."""
        handle, address = ctx.arg(0), ctx.arg(1)
        raw = read_in(ctx, address, struct_size(name))
        if raw is None:
            return MvStatus.PARAMETERFAULT
        state_out, id_out, codes_out, codes_size, length_out = (_word(raw, 4 * i) for i in range(5))
        if not enum_writable(state_out, "MvMqttRequestState") or not writable(id_out, 4) or \
                not writable(codes_out, codes_size) or not writable(length_out, 4):
            return MvStatus.PARAMETERFAULT
        channel = self._open(ctx, handle)
        if not isinstance(channel, Channel):
            return channel
        item = self._head(channel, kind)
        if not isinstance(item, Item):
            return item
        codes = item.values["reasons"]
        if 4 * len(codes) > codes_size:
            return MvStatus.INVALIDBUFFERSIZE
        write_enum(ctx, state_out, "MvMqttRequestState", item.values["state"])
        write_word(ctx, id_out, item.values["id"])
        write_out(ctx, codes_out, b"".join(_WORD.pack(code) for code in codes))
        write_word(ctx, length_out, len(codes))
        self._take(channel)
        return MvStatus.OKAY

    def mvMqttReceiveMessage(self, ctx: CallContext) -> int:
        handle, address = ctx.arg(0), ctx.arg(1)
        raw = read_in(ctx, address, struct_size("MvMqttMessage"))
        if raw is None:
            return MvStatus.PARAMETERFAULT
        at = _OFFSETS["MvMqttMessage"]
        id_out, qos_out = _word(raw, at["correlation_id"]), _word(raw, at["qos"])
        retain_out = _word(raw, at["retain"])
        topic_buf, payload_buf = _buffer_at(raw, at["topic"]), _buffer_at(raw, at["payload"])
        if not writable(id_out, 4) or not writable(qos_out, 4) or not writable(retain_out, 1) or \
                not _buffer_writable(topic_buf) or not _buffer_writable(payload_buf):
            return MvStatus.PARAMETERFAULT
        channel = self._open(ctx, handle)
        if not isinstance(channel, Channel):
            return channel
        item = self._head(channel, MvMqttReadableDataType.MESSAGERECEIVED)
        if not isinstance(item, Item):
            return item
        values = item.values
        if len(values["topic"]) > topic_buf[1] or len(values["payload"]) > payload_buf[1]:
            return MvStatus.INVALIDBUFFERSIZE
        write_word(ctx, id_out, values["id"])
        _fill(ctx, topic_buf, values["topic"])
        _fill(ctx, payload_buf, values["payload"])
        write_word(ctx, qos_out, values["qos"])
        write_out(ctx, retain_out, bytes([values["retain"]]))
        self._take(channel)
        state: MqttState = channel.state
        state.held -= item.size
        if item.size:
            self.channels.say(channel, "credit", bytes=item.size)
        if values["qos"]:
            state.unacked[values["id"]] = None
            while len(state.unacked) > MAX_UNACKED:
                del state.unacked[next(iter(state.unacked))]
        return MvStatus.OKAY

    def mvMqttReceiveLostMessageInfo(self, ctx: CallContext) -> int:
        handle, address = ctx.arg(0), ctx.arg(1)
        raw = read_in(ctx, address, struct_size("MvMqttLostMessageInfo"))
        if raw is None:
            return MvStatus.PARAMETERFAULT
        at = _OFFSETS["MvMqttLostMessageInfo"]
        reason_out, length_out = _word(raw, at["reason"]), _word(raw, at["message_len"])
        topic_buf = _buffer_at(raw, at["topic"])
        if not enum_writable(reason_out, "MvMqttLostMessageReason") or not writable(length_out, 4) or \
                not _buffer_writable(topic_buf):
            return MvStatus.PARAMETERFAULT
        channel = self._open(ctx, handle)
        if not isinstance(channel, Channel):
            return channel
        item = self._head(channel, MvMqttReadableDataType.MESSAGELOST)
        if not isinstance(item, Item):
            return item
        if len(item.values["topic"]) > topic_buf[1]:
            return MvStatus.INVALIDBUFFERSIZE
        write_enum(ctx, reason_out, "MvMqttLostMessageReason",
                   MvMqttLostMessageReason.DEVICERECEIVEBUFFERTOOSMALL)
        _fill(ctx, topic_buf, item.values["topic"])
        write_word(ctx, length_out, item.values["length"])
        self._take(channel)
        return MvStatus.OKAY


# --- reading the application's structures ---------------------------------------------------------
def _word(raw: bytes, offset: int) -> int:
    return _WORD.unpack_from(raw, offset)[0]


def _sized_at(raw: bytes, offset: int) -> tuple[int, int]:
    """(data, length) of an MvSizedString at `offset`."""
    return _word(raw, offset), _word(raw, offset + 4)


def _buffer_at(raw: bytes, offset: int) -> tuple[int, int, int]:
    """(data, size, length pointer) of an MvSizedStringBuffer at `offset`."""
    return _word(raw, offset), _word(raw, offset + 4), _word(raw, offset + 8)


def _buffer_writable(buffer: tuple[int, int, int]) -> bool:
    data, size, length_out = buffer
    return writable(data, size) and writable(length_out, 4)


def _fill(ctx: CallContext, buffer: tuple[int, int, int], value: bytes) -> None:
    write_out(ctx, buffer[0], value)
    write_word(ctx, buffer[2], len(value))


def _struct(ctx: CallContext, address: int, name: str) -> bytes:
    """The structure the call's argument points to, or PARAMETERFAULT."""
    raw = read_in(ctx, address, struct_size(name))
    if raw is None:
        raise Refused(MvStatus.PARAMETERFAULT)
    return raw


def _nested_struct(ctx: CallContext, address: int, name: str) -> bytes:
    raw = read_in(ctx, address, struct_size(name))
    if raw is None:
        raise LateFault()
    return raw


def _nested(ctx: CallContext, ref: tuple[int, int], correlation: int | None = None) -> bytes:
    """The bytes an inner pointer names (none for a zero length, whatever the pointer), or LATEFAULT
    (carrying the request's correlation id)."""
    data = read_in(ctx, ref[0], ref[1]) if ref[1] else b""
    if data is None:
        raise LateFault(correlation)
    return data


def _limit(ref: tuple[int, int], limit: int) -> None:
    if ref[1] > limit:
        raise Refused(MvStatus.INPUTTOOLONG)


def _certificates(ctx: CallContext, raw: bytes, offset: int) -> list[bytes]:
    """The certificates of an MvTlsCertificateChain at `offset`: at most MAX_ELEMENTS."""
    count, table_at = _word(raw, offset), _word(raw, offset + 4)
    if count > MAX_ELEMENTS:
        raise Refused(MvStatus.TOOMANYELEMENTS)
    table = _nested(ctx, (table_at, 8 * count))
    refs = [_sized_at(table, 8 * i) for i in range(count)]
    for ref in refs:
        _limit(ref, MAX_CERTIFICATE)
    found = [_nested(ctx, ref) for ref in refs]
    if not all(found):
        raise Refused(MvStatus.REQUIREDELEMENTMISSING)
    return found


# --- what MQTT allows ----------------------------------------------------------------------------
def _utf8(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid() from None
    if "\x00" in text:
        raise Invalid()
    return text


def _topic(raw: bytes, publish: bool) -> str:
    text = _utf8(raw)
    if publish and ("+" in text or "#" in text):
        raise Invalid()
    return text


def _qos(value: int) -> int:
    return _small(value, 1)


def _small(value: int, high: int) -> int:
    if value > high:
        raise Invalid()
    return value


def _flag(value: int) -> bool:
    if value > 1:
        raise Invalid()
    return bool(value)
