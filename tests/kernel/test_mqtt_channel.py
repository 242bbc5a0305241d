"""MQTT channel calls, made from the host: structures laid out in the device's SRAM, the relay's side played
by what the kernel says and what the test hands it."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from microvisor.common.mv_abi import (
    MvChannelType,
    MvEventType,
    MvMqttAuthenticationMethod,
    MvMqttReadableDataType,
    MvMqttRequestState,
    MvStatus,
    pack_struct,
    struct_size,
)
from microvisor.device.machine import Device
from microvisor.device.state import DeviceState
from microvisor.kernel import mqtt_channel
from microvisor.kernel.microvisor import Microvisor

HEAP = 0x2001_0000  # where the test lays out the application's structures
KERNEL_FLASH = 0x0C00_0000  # not the application's memory
BUFFERS = 0x2000_0000  # each channel's receive and send buffers, 1024 bytes each, from here on
RX_SIZE = TX_SIZE = 1024
TAG = 0x5151


def sized(address: int, length: int) -> int:
    """An MvSizedString {data, length} as one little-endian integer for pack_struct."""
    return address | length << 32


class App:
    """A device with the kernel, its link marked up with a relay, and a bump allocator in SRAM."""

    def __init__(self) -> None:
        self.state = DeviceState.open(None)
        self.device = Device(self.state)
        self.kernel = Microvisor(self.device)
        self.sent: list[dict] = []
        self.kernel.link.up, self.kernel.link.relay = True, "relay1"
        self.kernel.channels.send = lambda message: self.sent.append(message) or True
        self._next = HEAP
        self._channels = 0
        self.ring = self.alloc(bytes(16 * 16), 8)
        self.centre = self.handle_of("mvSetupNotifications", pack_struct(
            "MvNotificationSetup", {"irq": 51, "buffer": self.ring, "buffer_size": 256}))
        self.network = self.handle_of("mvRequestNetwork", pack_struct(
            "MvRequestNetworkParams", {"version": 1, "v1.notification_handle": self.centre,
                                       "v1.notification_tag": 1}))

    def close(self) -> None:
        self.kernel.close()
        self.device.close()
        self.state.close()

    def alloc(self, data: bytes, align: int = 4) -> int:
        self._next = (self._next + align - 1) // align * align
        address = self._next
        self.device.cpu.write(address, data or b"\0")
        self._next += max(len(data), 1)
        return address

    def text(self, value: bytes | str) -> int:
        """An MvSizedString's value in SRAM: (data, length) packed."""
        raw = value.encode() if isinstance(value, str) else value
        return sized(self.alloc(raw), len(raw))

    def read(self, address: int, length: int) -> bytes:
        return self.device.cpu.read(address, length)

    def word(self, address: int) -> int:
        return self.device.cpu.read_u32(address)

    def call(self, name: str, *args: int) -> MvStatus:
        cpu = self.device.cpu
        for index, value in enumerate(args):
            cpu.set_reg(f"r{index}", value & 0xFFFF_FFFF)
        address = self.device.syscalls.by_name[name].address
        return MvStatus(self.device.syscalls.dispatch(self.device, address))

    def handle_of(self, name: str, params: bytes) -> int:
        out = self.alloc(bytes(4))
        assert self.call(name, self.alloc(params), out) == MvStatus.OKAY
        return self.word(out)

    def open_mqtt(self) -> int:
        rx = BUFFERS + self._channels * (RX_SIZE + TX_SIZE)
        self._channels += 1
        return self.handle_of("mvOpenChannel", pack_struct("MvOpenChannelParams", {
            "version": 1, "v1.notification_handle": self.centre, "v1.notification_tag": TAG,
            "v1.network_handle": self.network, "v1.receive_buffer": rx, "v1.receive_buffer_len": RX_SIZE,
            "v1.send_buffer": rx + RX_SIZE, "v1.send_buffer_len": TX_SIZE,
            "v1.channel_type": MvChannelType.MQTT}))

    def mqtt(self) -> list[dict]:
        """What the kernel sent its relay since last asked: the MQTT requests and credits."""
        found = [m for m in self.sent if m["op"] in ("mqtt", "credit")]
        self.sent.clear()
        return found

    def number(self, handle: int) -> int:
        """The channel's number on the wire."""
        return self.kernel.channels.table.get(handle).number

    def respond(self, channel: int, **fields) -> None:
        self.kernel.channels.receive({"op": "mqtt", "ch": channel, **fields})

    def next_type(self, handle: int) -> MvMqttReadableDataType:
        out = self.alloc(bytes(4))
        assert self.call("mvMqttGetNextReadableDataType", handle, out) == MvStatus.OKAY
        return MvMqttReadableDataType(self.word(out))

    def readable_notifications(self) -> int:
        events = [self.read(self.ring + 16 * i, 16) for i in range(16)]
        return sum(1 for e in events if int.from_bytes(e[8:12], "little") == MvEventType.CHANNELDATAREADABLE
                   and int.from_bytes(e[12:16], "little") == TAG)


@pytest.fixture
def app() -> Iterator[App]:
    made = App()
    yield made
    made.close()


def connect_request(app: App, *, version: int = 1, host: bytes = b"broker.example.com", port: int = 8883,
                    method: int = MvMqttAuthenticationMethod.USERNAMEPASSWORD, username: bytes = b"alice",
                    password: bytes = b"pa55", tls: int | None = None, will: int = 0, keepalive: int = 60,
                    padding: bytes = b"\xee\xee\xee") -> int:
    """An MvMqttConnectRequest in SRAM; the method byte followed by `padding` (a -fshort-enums app's)."""
    auth = bytearray(pack_struct("MvMqttAuthentication", {
        "method": method, "username_password": app.text(username) | app.text(password) << 64}))
    auth[1:4] = padding
    return app.alloc(pack_struct("MvMqttConnectRequest", {
        "protocol_version": version, "host": app.text(host), "port": port, "clientid": app.text("device-1"),
        "authentication": int.from_bytes(auth, "little"), "tls_credentials": tls or 0,
        "keepalive": keepalive, "clean_start": 1, "will": will}))


def tls_credentials(app: App, ca: list[bytes], chain: list[bytes], key: bytes) -> int:
    def table(items: list[bytes]) -> int:
        return app.alloc(b"".join(pack_struct("MvSizedString", {"data": app.alloc(i), "length": len(i)})
                                  for i in items)) if items else 0
    return app.alloc(pack_struct("MvTlsCredentials", {
        "cacert": len(ca) | table(ca) << 32,
        "clientcert": len(chain) | table(chain) << 32 | app.text(key) << 64}))


def connected(app: App) -> int:
    """An MQTT channel whose connect the relay accepted (the response read)."""
    handle = app.open_mqtt()
    assert app.call("mvMqttRequestConnect", handle, connect_request(app)) == MvStatus.OKAY
    app.respond(app.number(handle), response="connect", state="REQUESTCOMPLETED", reason=0)
    out = app.alloc(bytes(8))
    assert app.call("mvMqttReadConnectResponse", handle, out) == MvStatus.OKAY
    app.mqtt()
    return handle


def subscribe_request(app: App, topics: list[bytes], correlation: int = 7, qos: int = 1) -> int:
    table = b"".join(pack_struct("MvMqttSubscription", {"topic": app.text(t), "desired_qos": qos})
                     for t in topics)
    return app.alloc(pack_struct("MvMqttSubscribeRequest", {
        "correlation_id": correlation, "subscriptions": app.alloc(table) if topics else 0,
        "num_subscriptions": len(topics)}))


def publish_request(app: App, topic: bytes, payload: bytes, correlation: int = 9, qos: int = 1) -> int:
    return app.alloc(pack_struct("MvMqttPublishRequest", {
        "correlation_id": correlation, "topic": app.text(topic), "payload": app.text(payload),
        "desired_qos": qos, "retain": 0}))


class Message:
    """An MvMqttMessage with its output buffers in SRAM."""

    def __init__(self, app: App, topic_size: int = 64, payload_size: int = 256):
        self.app = app
        self.id, self.qos, self.retain = app.alloc(bytes(4)), app.alloc(bytes(4)), app.alloc(b"\xff")
        self.topic, self.topic_len = app.alloc(bytes(topic_size)), app.alloc(bytes(4))
        self.payload, self.payload_len = app.alloc(bytes(payload_size)), app.alloc(bytes(4))
        self.address = app.alloc(pack_struct("MvMqttMessage", {
            "correlation_id": self.id, "topic": self.topic | topic_size << 32 | self.topic_len << 64,
            "payload": self.payload | payload_size << 32 | self.payload_len << 64,
            "qos": self.qos, "retain": self.retain}))

    def values(self) -> tuple[int, bytes, bytes, int, int]:
        app = self.app
        return (app.word(self.id), app.read(self.topic, app.word(self.topic_len)),
                app.read(self.payload, app.word(self.payload_len)), app.word(self.qos),
                app.read(self.retain, 1)[0])


def test_connect_goes_up_whole_and_its_response_is_read_once(app):
    handle = app.open_mqtt()
    ca, chain, key = [b"-----BEGIN CERTIFICATE-----\nCA\n"], [b"\x30\x82client-der"], b"\x30\x81key"
    will = app.alloc(pack_struct("MvMqttWill", {"topic": app.text("dev/gone"), "payload": app.text(b"bye"),
                                                "qos": 1, "retain": 1}))
    request = connect_request(app, tls=tls_credentials(app, ca, chain, key), will=will)
    assert app.call("mvMqttRequestConnect", handle, request) == MvStatus.OKAY
    [sent] = app.mqtt()
    assert sent == {"op": "mqtt", "ch": 1, "request": "connect", "version": "5", "host": "broker.example.com",
                    "port": 8883, "client_id": "device-1", "username": "alice",
                    "password": base64.b64encode(b"pa55").decode(), "tls": True,
                    "ca": [base64.b64encode(ca[0]).decode()], "cert": [base64.b64encode(chain[0]).decode()],
                    "key": base64.b64encode(key).decode(), "keepalive": 60, "clean_start": True,
                    "will": {"topic": "dev/gone", "payload": base64.b64encode(b"bye").decode(), "qos": 1,
                             "retain": True}}
    assert app.call("mvMqttRequestConnect", handle, request) == MvStatus.REQUESTALREADYSENT
    assert app.next_type(handle) == MvMqttReadableDataType.NONE
    out = app.alloc(bytes(8))
    assert app.call("mvMqttReadConnectResponse", handle, out) == MvStatus.RESPONSENOTPRESENT

    app.respond(1, response="connect", state="REQUESTCOMPLETED", reason=0)
    assert app.readable_notifications() == 1
    assert app.next_type(handle) == MvMqttReadableDataType.CONNECTRESPONSE
    assert app.call("mvMqttReadPublishResponse", handle, app.alloc(bytes(12))) == MvStatus.WRONGDATAREQUESTED
    assert app.call("mvMqttReadConnectResponse", handle, KERNEL_FLASH) == MvStatus.PARAMETERFAULT
    assert app.call("mvMqttReadConnectResponse", handle, out) == MvStatus.OKAY
    assert (app.word(out), app.word(out + 4)) == (MvMqttRequestState.REQUESTCOMPLETED, 0)
    assert app.next_type(handle) == MvMqttReadableDataType.NONE
    assert app.call("mvMqttRequestConnect", handle, request) == MvStatus.REQUESTALREADYSENT  # connected


def test_a_refused_connect_leaves_the_channel_free_to_connect_again(app):
    handle = app.open_mqtt()
    assert app.call("mvMqttRequestConnect", handle, connect_request(app)) == MvStatus.OKAY
    app.respond(1, response="connect", state="REQUESTCOMPLETED", reason=0x86)  # bad user name or password
    out = app.alloc(bytes(8))
    assert app.call("mvMqttReadConnectResponse", handle, out) == MvStatus.OKAY
    assert (app.word(out), app.word(out + 4)) == (MvMqttRequestState.REQUESTCOMPLETED, 0x86)
    app.mqtt()
    assert app.call("mvMqttRequestConnect", handle, connect_request(app)) == MvStatus.OKAY
    assert [m["request"] for m in app.mqtt()] == ["connect"]


def test_connect_refusals_send_nothing(app):
    handle = app.open_mqtt()
    cases = {
        "outer pointer": (KERNEL_FLASH, MvStatus.PARAMETERFAULT),
        "unknown method": (connect_request(app, method=7), MvStatus.INVALIDAUTHENTICATION),
        "no username": (connect_request(app, username=b""), MvStatus.INVALIDAUTHENTICATION),
        "long host": (connect_request(app, host=b"h" * 300), MvStatus.INPUTTOOLONG),
        "no host": (connect_request(app, host=b""), MvStatus.REQUIREDELEMENTMISSING),
        "no port": (connect_request(app, port=0), MvStatus.REQUIREDELEMENTMISSING),
        "nine CAs": (connect_request(app, tls=tls_credentials(app, [b"c"] * 9, [], b"")),
                     MvStatus.TOOMANYELEMENTS),
        "chain without key": (connect_request(app, tls=tls_credentials(app, [], [b"c"], b"")),
                              MvStatus.REQUIREDELEMENTMISSING),
        "over the send buffer": (connect_request(app, tls=tls_credentials(app, [b"c" * 1100], [], b"")),
                                 MvStatus.INVALIDBUFFERSIZE),
    }
    for name, (request, status) in cases.items():
        assert app.call("mvMqttRequestConnect", handle, request) == status, name
    assert app.mqtt() == []
    assert app.next_type(handle) == MvMqttReadableDataType.NONE
    # The one-byte authentication method: with nothing but the method byte valid (a -fshort-enums
    # application leaves the three bytes after it as they were), the call reads the byte alone.
    request = connect_request(app, method=MvMqttAuthenticationMethod.NONE, padding=b"\x55\x01\xff")
    assert app.call("mvMqttRequestConnect", handle, request) == MvStatus.OKAY
    [sent] = app.mqtt()
    assert sent["username"] is None and sent["password"] is None and sent["tls"] is False


def test_unreadable_inner_memory_is_a_late_fault_answered_as_invalid(app):
    handle = app.open_mqtt()
    request = app.alloc(pack_struct("MvMqttConnectRequest", {
        "protocol_version": 1, "host": sized(KERNEL_FLASH, 8), "port": 1883, "clientid": app.text("c")}))
    assert app.call("mvMqttRequestConnect", handle, request) == MvStatus.LATEFAULT
    assert app.mqtt() == []
    out = app.alloc(bytes(8))
    assert app.call("mvMqttReadConnectResponse", handle, out) == MvStatus.OKAY
    assert app.word(out) == MvMqttRequestState.INVALIDPARAMETERS
    # A protocol version the header does not name is accepted and answered the same way.
    assert app.call("mvMqttRequestConnect", handle, connect_request(app, version=9)) == MvStatus.OKAY
    assert app.call("mvMqttReadConnectResponse", handle, out) == MvStatus.OKAY
    assert app.word(out) == MvMqttRequestState.INVALIDPARAMETERS
    assert app.mqtt() == []


def test_subscribe_checks_counts_and_reads_its_reason_codes(app):
    handle = app.open_mqtt()
    assert app.call("mvMqttRequestSubscribe", handle, subscribe_request(app, [b"a"])) == MvStatus.OKAY
    assert app.mqtt() == []  # not connected: answered here
    state, correlation, codes, codes_len = (app.alloc(bytes(4)) for _ in range(4))
    codes = app.alloc(bytes(32))

    def read(size: int = 32, address: int | None = None) -> MvStatus:
        response = app.alloc(pack_struct("MvMqttSubscribeResponse", {
            "request_state": state, "correlation_id": correlation, "reason_codes": codes,
            "reason_codes_size": size, "reason_codes_len": codes_len}))
        return app.call("mvMqttReadSubscribeResponse", handle, address or response)

    assert read() == MvStatus.OKAY
    assert (app.word(state), app.word(correlation), app.word(codes_len)) == \
        (MvMqttRequestState.NOTCONNECTED, 7, 0)

    handle = connected(app)
    assert app.call("mvMqttRequestSubscribe", handle, subscribe_request(app, [])) == \
        MvStatus.REQUIREDELEMENTMISSING
    assert app.call("mvMqttRequestSubscribe", handle, subscribe_request(app, [b"t"] * 9)) == \
        MvStatus.TOOMANYELEMENTS
    assert app.call("mvMqttRequestSubscribe", handle, subscribe_request(app, [b""])) == \
        MvStatus.REQUIREDELEMENTMISSING
    assert app.call("mvMqttRequestSubscribe", handle, subscribe_request(app, [b"t" * 2000])) == \
        MvStatus.INPUTTOOLONG
    assert app.call("mvMqttRequestSubscribe", handle, KERNEL_FLASH) == MvStatus.PARAMETERFAULT
    assert app.mqtt() == []
    request = subscribe_request(app, [b"devices/+/in", b"news/#"], correlation=41)
    assert app.call("mvMqttRequestSubscribe", handle, request) == MvStatus.OKAY
    assert app.mqtt() == [{"op": "mqtt", "ch": 2, "request": "subscribe", "id": 41, "topics": [
        {"topic": "devices/+/in", "qos": 1, "nl": False, "rap": False, "rh": 0},
        {"topic": "news/#", "qos": 1, "nl": False, "rap": False, "rh": 0}]}]
    app.respond(2, response="subscribe", state="REQUESTCOMPLETED", id=41, reasons=[1, 0x87])
    assert read(size=4) == MvStatus.INVALIDBUFFERSIZE  # two codes, room for one: left to read again
    assert read(address=app.alloc(pack_struct("MvMqttSubscribeResponse", {
        "request_state": KERNEL_FLASH, "correlation_id": correlation, "reason_codes": codes,
        "reason_codes_size": 8, "reason_codes_len": codes_len}))) == MvStatus.PARAMETERFAULT
    assert read() == MvStatus.OKAY
    assert (app.word(state), app.word(correlation), app.word(codes_len)) == \
        (MvMqttRequestState.REQUESTCOMPLETED, 41, 2)
    assert (app.word(codes), app.word(codes + 4)) == (1, 0x87)
    assert app.next_type(handle) == MvMqttReadableDataType.NONE
    # A subscription table the application cannot read: LATEFAULT, answered with its correlation id.
    bad = app.alloc(pack_struct("MvMqttSubscribeRequest", {"correlation_id": 5, "subscriptions": KERNEL_FLASH,
                                                           "num_subscriptions": 1}))
    assert app.call("mvMqttRequestSubscribe", handle, bad) == MvStatus.LATEFAULT
    assert read() == MvStatus.OKAY
    assert (app.word(state), app.word(correlation)) == (MvMqttRequestState.INVALIDPARAMETERS, 5)
    assert app.mqtt() == []


def test_requests_in_flight_are_rate_limited_until_their_answers_are_read(app):
    handle = connected(app)
    for index in range(mqtt_channel.MAX_IN_FLIGHT):
        request = publish_request(app, b"t", b"x", index)
        assert app.call("mvMqttRequestPublish", handle, request) == MvStatus.OKAY
    assert app.call("mvMqttRequestPublish", handle, publish_request(app, b"t", b"x")) == MvStatus.RATELIMITED
    assert len(app.mqtt()) == mqtt_channel.MAX_IN_FLIGHT
    app.respond(1, response="publish", state="REQUESTCOMPLETED", id=0, reason=0)
    assert app.call("mvMqttRequestPublish", handle, publish_request(app, b"t", b"x")) == MvStatus.RATELIMITED
    out = app.alloc(bytes(12))
    assert app.call("mvMqttReadPublishResponse", handle, out) == MvStatus.OKAY
    assert [app.word(out + 4 * i) for i in range(3)] == [MvMqttRequestState.REQUESTCOMPLETED, 0, 0]
    assert app.call("mvMqttRequestPublish", handle, publish_request(app, b"t", b"x")) == MvStatus.OKAY


def test_publish_checks_its_topic_and_size(app):
    handle = connected(app)
    assert app.call("mvMqttRequestPublish", handle, publish_request(app, b"", b"x")) == \
        MvStatus.REQUIREDELEMENTMISSING
    assert app.call("mvMqttRequestPublish", handle, publish_request(app, b"t", b"x" * 1024)) == \
        MvStatus.INVALIDBUFFERSIZE  # over the 1024-byte send buffer with its topic
    assert app.mqtt() == []
    assert app.call("mvMqttRequestPublish", handle, publish_request(app, b"a/#", b"x", 3)) == MvStatus.OKAY
    assert app.call("mvMqttRequestPublish", handle, publish_request(app, b"a", b"x", 4, 2)) == MvStatus.OKAY
    assert app.mqtt() == []  # both answered here
    out = app.alloc(bytes(12))
    for correlation in (3, 4):
        assert app.call("mvMqttReadPublishResponse", handle, out) == MvStatus.OKAY
        assert (app.word(out), app.word(out + 4)) == (MvMqttRequestState.INVALIDPARAMETERS, correlation)
    assert app.call("mvMqttRequestPublish", handle, publish_request(app, b"a/b", b"\x00hi", 5, 0)) == \
        MvStatus.OKAY
    assert app.mqtt() == [{"op": "mqtt", "ch": 1, "request": "publish", "id": 5, "topic": "a/b",
                           "payload": base64.b64encode(b"\x00hi").decode(), "qos": 0, "retain": False}]


def test_messages_queue_in_order_are_credited_when_taken_and_qos1_needs_its_ack(app):
    handle = connected(app)
    payload = base64.b64encode(b"hello").decode()
    app.respond(1, response="message", id=11, topic="a/b", payload=payload, qos=1, retain=True)
    app.respond(1, response="publish", state="REQUESTCOMPLETED", id=3, reason=0)  # no publish was asked
    app.respond(1, response="message", id=12, topic="a/c", payload=payload, qos=0, retain=False)
    app.respond(1, response="message", id=13, topic="big", payload=base64.b64encode(b"x" * 1100).decode(),
                qos=0)
    app.respond(1, response="lost", topic="huge/one", length=70000)
    assert app.next_type(handle) == MvMqttReadableDataType.MESSAGERECEIVED
    assert app.mqtt() == [{"op": "credit", "ch": 1, "bytes": 1103}]  # the one over the buffer, given back

    small = Message(app, topic_size=2)
    assert app.call("mvMqttReceiveMessage", handle, small.address) == MvStatus.INVALIDBUFFERSIZE
    assert app.call("mvMqttReceiveLostMessageInfo", handle, app.alloc(bytes(20))) == MvStatus.PARAMETERFAULT
    assert app.call("mvMqttAcknowledgeMessage", handle, 11) == MvStatus.INDEXINVALID  # not yet taken
    message = Message(app)
    assert app.call("mvMqttReceiveMessage", handle, message.address) == MvStatus.OKAY
    assert message.values() == (11, b"a/b", b"hello", 1, 1)
    assert app.mqtt() == [{"op": "credit", "ch": 1, "bytes": 8}]
    assert app.call("mvMqttAcknowledgeMessage", handle, 11) == MvStatus.OKAY
    assert app.call("mvMqttAcknowledgeMessage", handle, 11) == MvStatus.INDEXINVALID
    assert app.mqtt() == [{"op": "mqtt", "ch": 1, "request": "ack", "id": 11}]

    assert app.call("mvMqttReceiveMessage", handle, message.address) == MvStatus.OKAY
    assert message.values() == (12, b"a/c", b"hello", 0, 0)
    assert app.mqtt() == [{"op": "credit", "ch": 1, "bytes": 8}]
    assert app.call("mvMqttAcknowledgeMessage", handle, 12) == MvStatus.INDEXINVALID  # QoS 0
    assert app.next_type(handle) == MvMqttReadableDataType.MESSAGELOST
    assert app.call("mvMqttReceiveMessage", handle, message.address) == MvStatus.WRONGDATAREQUESTED
    reason, topic, topic_len, length = (app.alloc(bytes(4)) for _ in range(4))
    topic = app.alloc(bytes(32))
    info = app.alloc(pack_struct("MvMqttLostMessageInfo", {
        "reason": reason, "topic": topic | 32 << 32 | topic_len << 64, "message_len": length}))
    for expected_topic, expected_length in ((b"big", 1103), (b"huge/one", 70000)):
        app.device.cpu.write(reason, b"\xff\xff\xff\xff")
        assert app.call("mvMqttReceiveLostMessageInfo", handle, info) == MvStatus.OKAY
        assert app.word(reason) == 0  # DEVICERECEIVEBUFFERTOOSMALL, written as wide as the enum
        assert (app.read(topic, app.word(topic_len)), app.word(length)) == (expected_topic, expected_length)
    assert app.next_type(handle) == MvMqttReadableDataType.NONE
    assert app.mqtt() == []


def test_disconnect_and_its_response(app):
    handle = app.open_mqtt()
    out = app.alloc(bytes(8))
    assert app.call("mvMqttRequestDisconnect", handle) == MvStatus.OKAY  # never connected: answered here
    assert app.call("mvMqttReadDisconnectResponse", handle, out) == MvStatus.OKAY
    assert app.word(out) == MvMqttRequestState.NOTCONNECTED
    assert app.call("mvMqttRequestConnect", handle, connect_request(app)) == MvStatus.OKAY
    assert app.call("mvMqttRequestDisconnect", handle) == MvStatus.UNAVAILABLE  # while connecting
    app.respond(1, response="connect", state="REQUESTCOMPLETED", reason=0)
    assert app.call("mvMqttReadConnectResponse", handle, out) == MvStatus.OKAY
    app.mqtt()
    assert app.call("mvMqttRequestDisconnect", handle) == MvStatus.OKAY
    assert app.call("mvMqttRequestDisconnect", handle) == MvStatus.REQUESTALREADYSENT
    assert app.mqtt() == [{"op": "mqtt", "ch": 1, "request": "disconnect"}]
    app.respond(1, response="disconnect", state="REQUESTCOMPLETED", reason=0)
    assert app.call("mvMqttReadDisconnectResponse", handle, out) == MvStatus.OKAY
    assert (app.word(out), app.word(out + 4)) == (MvMqttRequestState.REQUESTCOMPLETED, 0)
    assert app.call("mvMqttRequestConnect", handle, connect_request(app)) == MvStatus.OKAY  # free again


def test_calls_on_other_channels_and_closed_ones(app):
    handle = app.open_mqtt()
    out = app.alloc(bytes(4))
    assert app.call("mvMqttGetNextReadableDataType", 0x1234, out) == MvStatus.INVALIDHANDLE
    assert app.call("mvMqttGetNextReadableDataType", handle, KERNEL_FLASH) == MvStatus.PARAMETERFAULT
    app.kernel.channels.receive({"op": "closed", "ch": 1, "reason": "server"})
    assert app.call("mvMqttGetNextReadableDataType", handle, out) == MvStatus.CHANNELCLOSED
    assert app.call("mvMqttRequestConnect", handle, connect_request(app)) == MvStatus.CHANNELCLOSED
    app.respond(1, response="connect", state="REQUESTCOMPLETED", reason=0)  # after the close: dropped
    pointer = app.alloc(handle.to_bytes(4, "little"))
    assert app.call("mvCloseChannel", pointer) == MvStatus.OKAY
    assert struct_size("MvMqttConnectRequest") == 60  # the layout these calls read
