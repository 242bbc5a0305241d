"""A chip on the factory line in this process, and a hostile station's hands on it (no service)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from microvisor.common import factory_protocol, keys, spi_image
from microvisor.common.bundle import Bundle
from microvisor.common.platform import Platform
from microvisor.common.sids import device_sid
from microvisor.device.factory_chip import FactoryChip, make_blank
from microvisor.device.flash import PowerCut
from microvisor.device.flash_layout import FACTORY_IMAGE
from microvisor.factory.debug_probe import DebugProbe
from microvisor.factory.uart_link import UartLink


@dataclass
class Card:
    """A card for these tests: its key in memory (the PKCS#11 card has its own tests)."""

    platform: Platform
    key: keys.PrivateKey = field(default_factory=keys.generate)

    def certificate(self) -> bytes:
        public = keys.raw_public(self.key.public_key())
        card, account = "FC" + "1" * 32, "AC" + "2" * 32
        return factory_protocol.issue_card_certificate(self.platform.root_key, card, account, public, 10)

    def authorize(self, chip_uid: bytes, nonce: bytes) -> bytes:
        return keys.sign(self.key, factory_protocol.authorization_message(chip_uid, nonce))

    def answer(self, request: dict[str, Any]) -> dict[str, str]:
        signature = self.authorize(bytes.fromhex(request["chip_uid"]), bytes.fromhex(request["nonce"]))
        return {"card_certificate": self.certificate().decode(), "authorization": signature.hex()}


def image(platform: Platform, examples: Path, test: str = "factory_test", app: str = "blinky") -> bytes:
    from microvisor.cli.apps_cmd import make_bundle, manifest_body
    from microvisor.common import kernel_image
    from microvisor.factory.image import build_image

    def bundle(name: str) -> Bundle:
        return make_bundle(examples / name / f"{name}.elf", manifest_body(None), None, None)[0]

    test_program = kernel_image.build(platform, version_string=kernel_image.TEST_PROGRAM_VERSION,
                                      source=kernel_image.TEST_PROGRAM_SOURCE)
    return build_image(platform, test_program, kernel_image.build(platform), bundle(test), bundle(app))


def tamper(data: bytes, part: str, offset: int = 100) -> bytes:
    """The image with one byte of a part flipped, or for "toc" one hex digit of the table of contents'
    first part hash changed (the table still parses: only its signature tells)."""
    if part == "toc":
        where = data.index(b'"sha256":"') + len(b'"sha256":"')
        return data[:where] + (b"1" if data[where:where + 1] == b"0" else b"0") + data[where + 1:]
    where = spi_image.read(spi_image.file_reader(data), None).parts[part].offset + offset
    return data[:where] + bytes([data[where] ^ 0x01]) + data[where + 1:]


class Line:
    """One blank chip running on a thread, its UART and debug port at hand."""

    def __init__(self, folder: Path, platform: Platform, chip_uid: bytes | None = None,
                 power_cut_after: int | None = None):
        self.platform = platform
        self.uid = make_blank(folder, platform.root_key_hash, platform.sfi_master(), chip_uid=chip_uid) \
            if not folder.exists() else None
        self.chip = FactoryChip(folder, 0, 0, paced=False, power_cut_after=power_cut_after)
        self.power_cut: PowerCut | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.uart = UartLink("127.0.0.1", self.chip.uart.port)
        self.seen: list[dict[str, Any]] = []

    def _run(self) -> None:
        try:
            self.chip.run()
        except PowerCut as cut:
            self.power_cut = cut

    def program(self, data: bytes) -> None:
        """Steps 2 and 3 as a station does them: QSPI, then the SFI loader (debug port locked)."""
        with DebugProbe("127.0.0.1", self.chip.debug_port) as probe:
            probe.program_qspi(FACTORY_IMAGE.offset, data)
            probe.monitor("sfi-start")

    def until(self, event: str, answer: Callable[[dict[str, Any]], dict | None] | None = None,
              timeout_s: float = 20.0) -> dict[str, Any]:
        """Read the chip's messages up to `event` (within timeout_s in all); `answer` replies to each
        message it returns a dict for."""
        deadline = time.monotonic() + timeout_s
        while True:
            message = self.uart.next(deadline - time.monotonic())
            self.seen.append(message)
            if message.get("event") == event:
                return message
            reply = answer(message) if answer is not None else None
            if reply is not None:
                self.uart.send(reply)

    def events(self) -> list[str]:
        return [str(m.get("event")) for m in self.seen]

    def stop(self) -> None:
        self.chip.stop()
        self.thread.join(timeout=15)
        self.uart.close()


Answer = Callable[[dict[str, Any]], dict | None]


def station_answers(card: Card, platform: Platform, broker: str = "",
                    tamper: Callable[[str], str] = lambda record: record) -> Answer:
    """An honest station with a service that certifies whatever verifies (the service has its own tests);
    `tamper` is what a hostile station does to the service's provisioning record on its way."""
    def answer(message: dict[str, Any]) -> dict | None:
        event = message.get("event")
        if event == "sfi-request":
            return card.answer(message)
        if event == "challenge-request":
            return {"challenge": "ab" * 16}
        if event == "attestation":
            attestation = factory_protocol.Attestation.from_json(message["attestation"])
            attestation.verify(platform.sfi_master(), platform.root_key_hash)
            key = x509.load_pem_x509_csr(attestation.csr_pem.encode()).public_key()
            certificate = platform.issue_certificate(device_sid(attestation.chip_uid), key).decode()
            made = factory_protocol.Provisioning(certificate, platform.ca_pem().decode(), broker)
            record = factory_protocol.sign_provisioning(platform.root_key, attestation.challenge, made)
            return {"provisioning": tamper(record)}
        return None
    return answer
