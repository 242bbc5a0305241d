"""The remote-debugging channel: only the debug key's holder can send to a device or read its answers."""

from __future__ import annotations

import pytest

from microvisor.common import debug_channel as dc
from microvisor.common import keys


def opened() -> tuple[keys.PrivateKey, dc.DeveloperSession, dc.DeviceSession]:
    key = keys.generate()
    developer = dc.DeveloperSession(key)
    request = dc.read_down(key.public_key(), developer.open())
    assert request.kind == dc.OPEN
    device = dc.DeviceSession(key.public_key(), request.session)
    assert developer.read(device.opened()) == (dc.OPENED, device.nonce)
    return key, developer, device


def test_a_session_carries_bytes_both_ways_in_order():
    key, developer, device = opened()
    for body in (b"$qSupported#37", b"$g#67"):
        sent = developer.data(body)
        assert body not in sent  # the service cannot read what GDB asks
        message = dc.read_down(key.public_key(), sent)
        assert message.kind == dc.DATA and device.accept(message) == body
        assert developer.read(device.data(b"+$OK#9a")) == (dc.DATA, b"+$OK#9a")
    closing = dc.read_down(key.public_key(), developer.close())
    device.accept(closing)
    assert closing.kind == dc.CLOSE


def test_what_the_device_sends_is_readable_only_with_the_debug_key():
    _, developer, device = opened()
    sent = device.data(b"$m20000000,4#xx")
    assert b"m20000000" not in sent
    stranger = dc.DeveloperSession(keys.generate())
    stranger.session = developer.session
    with pytest.raises(dc.DebugChannelError):  # another key cannot even open the session's answer
        stranger.read(device.opened())
    tampered = bytearray(sent)
    tampered[-1] ^= 1
    with pytest.raises(dc.DebugChannelError):
        developer.read(bytes(tampered))


def test_the_device_refuses_a_forged_tampered_or_replayed_request():
    key, developer, device = opened()
    with pytest.raises(dc.DebugChannelError, match="not signed"):  # another key
        dc.read_down(key.public_key(), dc.DeveloperSession(keys.generate()).open())
    request = developer.data(b"$M20000000,1:ff#xx")
    tampered = bytearray(request)
    tampered[60] ^= 1
    with pytest.raises(dc.DebugChannelError, match="not signed"):
        dc.read_down(key.public_key(), bytes(tampered))
    device.accept(dc.read_down(key.public_key(), request))
    with pytest.raises(dc.DebugChannelError, match="replayed"):  # the same request again
        device.accept(dc.read_down(key.public_key(), request))
    # A request of an earlier session carries that session's nonce: refused by the new one.
    later = dc.DeviceSession(key.public_key(), developer.session)
    with pytest.raises(dc.DebugChannelError, match="another session"):
        later.accept(dc.read_down(key.public_key(), developer.data(b"$c#63")))
    with pytest.raises(dc.DebugChannelError):
        dc.read_down(key.public_key(), b"MVD\x02short")
