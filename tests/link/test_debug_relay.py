"""The remote-debugging relay end to end: real servers and broker, a device's own certificate driven by hand.

The service moves debug messages as opaque bytes: POST …/Debug to the device's `down/debug`, the device's
`up/debug` to the …/Debug/Stream server-sent events, never reading them.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from microvisor.common import link as wire
from microvisor.device.identity import read_identity
from microvisor.device.state import DeviceState

from ..security.conftest import DeviceIdentity, MqttPeer, connect, create_account, register, settle
from .conftest import Server, SseStream, wait_until
from .test_link import create_device

OCTET_STREAM = {"Content-Type": "application/octet-stream"}


def device(server: Server, folder: Path) -> MqttPeer:
    """A device made by `microvisor device create`, connected to the broker with its own certificate and
    subscribed to its down/ subtree."""
    sid = create_device(server, folder)
    with DeviceState.open(folder, create=False) as state:
        identity = read_identity(state)
    peer = connect(server.broker_port, DeviceIdentity(sid, identity.certificate_pem, identity.key_pem,
                                                      identity.ca_pem), folder / "mqtt")
    assert peer.subscribe(wire.device_filter(sid)) == [1]
    return peer


def post(server: Server, sid: str, payload: bytes, headers: dict[str, str] | None = None,
         auth: tuple[str, str] | None = None) -> httpx.Response:
    """POST …/Debug with these bytes (as application/octet-stream unless other headers are given)."""
    return httpx.post(f"{server.url}/v1/Devices/{sid}/Debug", content=payload,
                      headers=OCTET_STREAM if headers is None else headers, auth=auth or server.credentials,
                      timeout=10)


def down_debug(peer: MqttPeer) -> list[bytes]:
    """The debug messages that reached the device, in order."""
    return [payload for _, payload in peer.received(wire.down(peer.sid, wire.DEBUG))]


class Stream(SseStream):
    """GET …/Debug/Stream read by a thread."""

    def __init__(self, server: Server, sid: str, auth: tuple[str, str] | None = None, **params: str):
        super().__init__(server, f"/v1/Devices/{sid}/Debug/Stream", auth, **params)

    def payloads(self, count: int, timeout: float = 10) -> list[bytes]:
        """The first `count` messages' bytes, once that many came."""
        wait_until(lambda: len(self.events) >= count, timeout, f"{count} debug message(s) on the stream")
        return [base64.b64decode(data["payload"]) for _, _, data in self.events[:count]]



@pytest.fixture
def peer(server: Server, tmp_path) -> Iterator[MqttPeer]:
    """A device of the server's first account, connected as itself and listening on its down/ subtree."""
    connected = device(server, tmp_path / "dev")
    try:
        yield connected
    finally:
        connected.close()


def test_posted_bytes_reach_the_device_unchanged(server, peer):
    payloads = [b"\x00\xff\r\n{not json", os.urandom(wire.MAX_DEBUG_MESSAGE), b"x"]
    for payload in payloads:
        answer = post(server, peer.sid, payload)
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"device_sid": peer.sid, "bytes": len(payload)}
    wait_until(lambda: len(down_debug(peer)) >= len(payloads), 10, "the debug messages at the device")
    settle(0.5)
    assert down_debug(peer) == payloads  # in order, byte for byte, once each
    assert [topic for topic, _ in peer.received()] == [wire.down(peer.sid, wire.DEBUG)] * len(payloads)


def test_bytes_the_device_sends_reach_the_stream_unchanged(server, peer):
    topic = wire.up(peer.sid, wire.DEBUG)
    early = b"\x00early\xff"
    peer.client.publish(topic, early, qos=1)
    opened: list[Stream] = []

    def stream(**params: str) -> Stream:
        opened.append(Stream(server, peer.sid, **params))
        return opened[-1]

    try:
        everything = stream(After="0")
        assert everything.status == 200 and everything.payloads(1) == [early]
        early_sequence = everything.events[0][2]["sequence"]
        new_only = stream()  # from now on: not the early one
        later = [b"{\"json\": \"or not\"}", os.urandom(wire.MAX_DEBUG_MESSAGE), bytes(range(256))]
        for payload in later:
            peer.client.publish(topic, payload, qos=1)
        assert new_only.payloads(3) == later
        assert everything.payloads(4) == [early, *later]
        after_early = stream(After=str(early_sequence))
        assert after_early.payloads(3) == later
        settle(0.5)
        assert len(new_only.events) == len(after_early.events) == 3 and len(everything.events) == 4
        for event_id, name, data in everything.events:
            assert name == "debug" and event_id == str(data["sequence"])
            assert data["device_sid"] == peer.sid and data["date_created"].endswith("Z")
        sequences = [data["sequence"] for _, _, data in everything.events]
        assert sequences == sorted(sequences) and sequences[0] == early_sequence
        assert [data["sequence"] for _, _, data in new_only.events] == sequences[1:]
    finally:
        for each in opened:
            each.close()


def test_an_oversized_message_from_the_device_is_dropped(server, peer):
    stream = Stream(server, peer.sid)
    try:
        peer.client.publish(wire.up(peer.sid, wire.DEBUG), b"\x01" * (wire.MAX_DEBUG_MESSAGE + 1), qos=1)
        peer.client.publish(wire.up(peer.sid, wire.DEBUG), b"after", qos=1)
        assert stream.payloads(1) == [b"after"]
        settle(0.5)
        assert len(stream.events) == 1
    finally:
        stream.close()
    dropped = f"link message on {wire.up(peer.sid, wire.DEBUG)} dropped"
    assert server.log.count(dropped) == 1 and f"{wire.MAX_DEBUG_MESSAGE}-byte limit" in server.log


def test_refused_posts_publish_nothing(server, peer):
    too_large = post(server, peer.sid, b"\x02" * (wire.MAX_DEBUG_MESSAGE + 1))
    assert too_large.status_code == 413
    assert set(too_large.json()) == {"code", "message", "more_info", "status"}
    assert too_large.json()["status"] == 413
    assert post(server, peer.sid, b"").status_code == 400
    form = {"Content-Type": "application/x-www-form-urlencoded"}  # what `curl --data-binary` sends
    assert post(server, peer.sid, b"x=1", form).status_code == 415
    assert post(server, peer.sid, b"control").status_code == 202
    wait_until(lambda: down_debug(peer), 10, "the control message")
    settle(0.5)
    assert down_debug(peer) == [b"control"]


def test_another_accounts_device_is_not_found(server, peer, tmp_path):
    other = create_account(server, "debug neighbour")
    theirs = register(other)
    victim = connect(server.broker_port, theirs, tmp_path / "theirs")
    try:
        assert victim.subscribe(wire.device_filter(theirs.sid)) == [1]
        for sid in (theirs.sid, "UV" + "0" * 32):
            refused = post(server, sid, b"probe")
            assert refused.status_code == 404 and refused.json()["status"] == 404
            stream = Stream(server, sid)
            assert stream.status == 404
            stream.close()
        # Their own account reaches it; the first account's device stays out of their reach.
        assert post(server, theirs.sid, b"theirs", auth=(other.sid, other.token)).status_code == 202
        assert post(server, peer.sid, b"probe", auth=(other.sid, other.token)).status_code == 404
        wait_until(lambda: down_debug(victim), 10, "their own message")
        settle(0.5)
        assert down_debug(victim) == [b"theirs"] and down_debug(peer) == []
    finally:
        victim.close()


def test_any_server_process_relays_both_ways(servers, tmp_path):
    first, second = servers
    wait_until(lambda: "link worker connected" in second.log, 15, "B's link worker to reach A's broker")
    peer = device(first, tmp_path / "dev")
    streams = [Stream(running, peer.sid) for running in (first, second)]
    try:
        sent = [b"through A", b"through B"]
        for running, payload in zip((first, second), sent, strict=True):
            assert post(running, peer.sid, payload).status_code == 202
        wait_until(lambda: len(down_debug(peer)) >= 2, 10, "both messages at the device")
        assert down_debug(peer) == sent
        # The device's messages go to either worker (a shared subscription); both streams show all.
        up = [f"up {n}".encode() for n in range(8)]
        for payload in up:
            peer.client.publish(wire.up(peer.sid, wire.DEBUG), payload, qos=1)
        seen = [stream.payloads(len(up)) for stream in streams]
        assert sorted(seen[0]) == sorted(seen[1]) == sorted(up)
        assert [data for _, _, data in streams[0].events] == [data for _, _, data in streams[1].events]
    finally:
        for stream in streams:
            stream.close()
        peer.close()
