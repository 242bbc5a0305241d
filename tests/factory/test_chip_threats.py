"""What the chip itself refuses from a hostile station: replayed authorizations, tampered images, its
debug port after step 3. The chip runs in this process; the station's side is played by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from microvisor.common import factory_protocol as fp
from microvisor.common import keys
from microvisor.common.factory_protocol import chip_key
from microvisor.common.platform import Platform
from microvisor.device.state import DeviceState
from microvisor.factory.debug_probe import DebugProbe, ProbeError

from .chip_harness import Card, Line, image, station_answers, tamper


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Platform:
    return Platform.init(tmp_path_factory.mktemp("threats") / "platform")


@pytest.fixture(scope="module")
def good_image(platform: Platform, examples: Path) -> bytes:
    return image(platform, examples)


@pytest.fixture
def lines(tmp_path: Path, platform: Platform):
    made: list[Line] = []

    def make(name: str = "chip", chip_uid: bytes | None = None) -> Line:
        made.append(Line(tmp_path / name, platform, chip_uid))
        return made[-1]

    yield make
    for line in made:
        line.stop()


def test_an_honest_station_takes_a_chip_through_every_step(lines, platform, good_image):
    line = lines()
    line.program(good_image)
    line.until("factory-complete", station_answers(Card(platform), platform))
    steps = ["sfi-installed", "hardware", "attestation", "certified", "microvisor-installed",
             "microvisor-started", "kernel-testing-complete"]
    assert [e for e in line.events() if e in steps] == steps


def test_an_authorization_for_another_chip_is_refused(lines, platform, good_image):
    card = Card(platform)
    first, second = lines("first"), lines("second")
    for line in (first, second):
        line.program(good_image)
    first_request = first.until("sfi-request")
    second.until("sfi-request")
    second.uart.send(card.answer(first_request))  # chip one's authorization, on chip two
    refused = second.until("sfi-refused")
    assert "not the card's signature for this chip" in refused["reason"]
    assert "sfi-installed" not in second.events()


def test_an_authorization_from_an_earlier_boot_is_refused(lines, platform, good_image):
    card = Card(platform)
    line = lines()
    line.program(good_image)
    earlier = line.until("sfi-request")
    line.uart.send({"command": "reset", "id": "x"})  # a power cycle: the ROM draws a new nonce
    later = line.until("sfi-request")
    assert later["nonce"] != earlier["nonce"]
    line.uart.send(card.answer(earlier))
    assert "for this chip and this install" in line.until("sfi-refused")["reason"]


def test_a_card_another_platform_certified_is_refused(lines, platform, good_image, tmp_path):
    stranger = Card(Platform.init(tmp_path / "other-platform"))
    line = lines()
    line.program(good_image)
    line.uart.send(stranger.answer(line.until("sfi-request")))
    assert "not signed by this platform's root key" in line.until("sfi-refused")["reason"]


@pytest.mark.parametrize(("part", "refusal", "why"), [
    ("toc", "sfi-refused", "signature does not verify"),
    ("test-program", "sfi-refused", "does not match its hash"),
    ("kernel", "step-failed", "does not match its hash"),
    ("test-bundle", "step-failed", "does not match its hash"),
    ("app-bundle", "kernel-factory-failed", "does not match its hash"),
])
def test_a_tampered_image_is_refused_by_the_chip(lines, platform, good_image, part, refusal, why):
    line = lines()
    line.program(tamper(good_image, part))  # a hostile station programs it: the chip checks for itself
    refused = line.until(refusal, station_answers(Card(platform), platform))
    assert why in refused["reason"]
    assert "factory-complete" not in line.events()
    if part == "app-bundle":  # the test bundle passed, but the application cannot be installed
        line.stop()
        with DeviceState.open(line.chip.path, create=False) as state:
            assert state.option_bytes.factory_mode


def _redirected(record: str) -> str:
    """The service's record with the broker changed to the station's own (signature kept)."""
    document = json.loads(record)
    document["body"]["broker"] = "evil.example:8883"
    return json.dumps(document)


def _resigned(record: str) -> str:
    """The record signed again by a root key of the station's own."""
    body = json.loads(record)["body"]
    made = fp.Provisioning(body["certificate"], body["ca_certificate"], "evil.example:8883")
    return fp.sign_provisioning(keys.generate(), bytes.fromhex(body["challenge"]), made)


def _for_another_challenge(record: str) -> str:
    """A record the service signed for another attestation (replayed from an earlier chip or run)."""
    document = json.loads(record)
    document["body"]["challenge"] = "cd" * 16
    return json.dumps(document)


@pytest.mark.parametrize(("tamper", "why"), [(_redirected, "signature does not verify"),
                                             (_resigned, "not signed by this platform's root key"),
                                             (_for_another_challenge, "signature does not verify")])
def test_a_station_cannot_point_the_device_at_another_broker(lines, platform, good_image, tamper, why):
    line = lines()
    line.program(good_image)
    refused = line.until("step-failed", station_answers(Card(platform), platform, "broker:8883", tamper))
    assert refused["step"] == 7 and why in refused["reason"]


def test_the_debug_port_is_closed_for_good_at_step_3(lines, platform, good_image):
    line = lines()
    line.program(good_image)
    line.until("sfi-request")
    with pytest.raises(ProbeError, match="does not answer"):
        DebugProbe("127.0.0.1", line.chip.debug_port, timeout_s=2)
    line.uart.send({"command": "reset", "id": "again"})  # powered on again: still locked
    line.until("sfi-request")
    with pytest.raises(ProbeError, match="does not answer"):
        DebugProbe("127.0.0.1", line.chip.debug_port, timeout_s=2)


def test_the_open_debug_port_shows_no_secret(lines):
    line = lines()
    with DebugProbe("127.0.0.1", line.chip.debug_port) as probe:
        assert probe.chip_uid() == line.uid
        assert probe.read(0x0BFA0700, 12) == line.uid
        flash = probe.read(0x0C00_0000, 2 * 1024 * 1024)
        for address in (0x0BFA0800, 0x2000_0000, 0x4000_0000, 0x0BFA06F0, 0x1FFF_0000):
            with pytest.raises(ProbeError, match="error E01"):
                probe.read(address, 16)
    assert chip_key(line.platform.sfi_master(), line.uid) not in flash
