"""The relay's own rules: flow control both ways, bounds on what one device may hold, hostile messages."""

from __future__ import annotations

import base64
import threading
import time

import pytest

from microvisor.cloud.channel_relay import MAX_CHANNELS_PER_DEVICE, MAX_PENDING, ChannelRelay
from microvisor.cloud.destinations import Destinations
from microvisor.cloud.http_relay import HttpRelay
from microvisor.common.link import LinkMessageError

SID = "UV" + "1" * 32


class Store:
    """The relay's seam to the database, kept in memory; config fetches wait for `release`."""

    def __init__(self) -> None:
        self.output: list[bytes] = []
        self.release = threading.Event()
        self.release.set()

    def account_config(self, device_sid: str, key: str) -> str | None:
        return None

    def config_items(self, device_sid, items):
        self.release.wait(10)
        return [("OK", b"v")] * len(items)

    def console_output(self, device_sid: str, data: bytes) -> None:
        self.output.append(data)


@pytest.fixture
def relay():
    sent: list[tuple[str, dict]] = []
    store = Store()
    made = ChannelRelay(store, lambda sid, message: sent.append((sid, message)), HttpRelay(Destinations()))
    made.sent, made.store = sent, store
    yield made
    store.release.set()
    made.close()


def ops(relay, op: str) -> list[dict]:
    return [message for _, message in relay.sent if message["op"] == op]


def test_console_input_goes_down_within_the_window_in_order(relay):
    relay.handle(SID, {"op": "open", "ch": 1, "type": "opaque", "endpoint": "console", "window": 512})
    typed = bytes(range(256)) * 8  # 2,048 bytes into a 512-byte window
    assert relay.console_input(SID, typed)
    assert sum(len(base64.b64decode(m["data"])) for m in ops(relay, "data")) == 512
    for _ in range(3):
        relay.handle(SID, {"op": "credit", "ch": 1, "bytes": 512})
    data = ops(relay, "data")
    assert b"".join(base64.b64decode(m["data"]) for m in data) == typed
    assert [m["seq"] for m in data] == list(range(len(data)))
    assert not relay.console_input(SID, b"x" * (MAX_PENDING + 1))  # beyond the queue: refused
    assert not relay.console_input("UV" + "2" * 32, b"x")  # no console of that device here


def test_device_data_is_stored_credited_and_must_come_in_order(relay):
    relay.handle(SID, {"op": "open", "ch": 1, "type": "opaque", "endpoint": "console", "window": 512})
    relay.handle(SID, {"op": "data", "ch": 1, "seq": 0, "data": base64.b64encode(b"hi").decode()})
    assert relay.store.output == [b"hi"] and ops(relay, "credit")[-1]["bytes"] == 2
    with pytest.raises(LinkMessageError, match="came where 1 was due"):
        relay.handle(SID, {"op": "data", "ch": 1, "seq": 5, "data": ""})
    assert ops(relay, "closed")[-1] == {"op": "closed", "ch": 1, "reason": "reset"}


def test_unknown_endpoints_and_too_many_channels_are_reset(relay):
    relay.handle(SID, {"op": "open", "ch": 1, "type": "opaque", "endpoint": "shell", "window": 512})
    assert ops(relay, "closed")[-1]["ch"] == 1
    for number in range(2, 2 + MAX_CHANNELS_PER_DEVICE + 1):
        relay.handle(SID, {"op": "open", "ch": number, "type": "http", "endpoint": "", "window": 512})
    assert ops(relay, "closed")[-1]["ch"] == 2 + MAX_CHANNELS_PER_DEVICE


@pytest.mark.parametrize("message", [
    {"op": "open", "ch": 0, "type": "http", "endpoint": "", "window": 512},
    {"op": "open", "ch": 1, "type": "http", "endpoint": "", "window": 10**9},
    {"op": "open", "ch": "1", "type": "http", "endpoint": "", "window": 512},
    {"op": "open", "ch": 1, "type": ["http"], "endpoint": "", "window": 512},
    {"ch": 1},
])
def test_malformed_messages_are_refused(relay, message):
    with pytest.raises(LinkMessageError):
        relay.handle(SID, message)


def test_a_device_cannot_pile_up_requests_by_reopening_channels(relay):
    relay.store.release.clear()  # every config fetch waits
    for number in range(1, MAX_CHANNELS_PER_DEVICE + 1):
        relay.handle(SID, {"op": "open", "ch": number, "type": "config", "endpoint": "", "window": 512})
        relay.handle(SID, {"op": "config", "ch": number, "items": [{"scope": "device", "store": "config",
                                                                    "key": "k"}]})
        relay.handle(SID, {"op": "close", "ch": number})  # closed, but its request is still waiting
    relay.handle(SID, {"op": "open", "ch": 99, "type": "config", "endpoint": "", "window": 512})
    with pytest.raises(LinkMessageError, match="requests in progress"):
        relay.handle(SID, {"op": "config", "ch": 99, "items": [{"scope": "device", "store": "config",
                                                                "key": "k"}]})
    relay.store.release.set()
    deadline = time.monotonic() + 10
    while len(ops(relay, "config")) < MAX_CHANNELS_PER_DEVICE and time.monotonic() < deadline:
        time.sleep(0.01)
    relay.handle(SID, {"op": "open", "ch": 100, "type": "config", "endpoint": "", "window": 512})
    relay.handle(SID, {"op": "config", "ch": 100, "items": [{"scope": "device", "store": "config",
                                                             "key": "k"}]})
    while not any(m["ch"] == 100 for m in ops(relay, "config")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert any(m["ch"] == 100 and m["result"] == "OK" for m in ops(relay, "config"))  # served again
