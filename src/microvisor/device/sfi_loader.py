"""The ROM's secure firmware install: a card's authorization for this chip and boot installs the test program.

As ST's root security services live in the STM32U5's system memory, this loader is part of the
ROM: step 3 of the factory flow only enables it (TrustZone on, debug locked). It draws a fresh
nonce, tells the station the chip's UID and the nonce over the provisioning UART, and accepts an
answer only if the card certificate is signed by the root key whose hash the chip's OTP holds and
the card signed exactly this UID and this nonce. Then it reads the SPI image from QSPI, checks its
signed table of contents and the test program's own signatures, installs the test program into
secure flash, and keeps the authorization (card, nonce, signature) for the test program.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from ..common import factory_protocol, spi_image
from ..common.bundle import Bundle, BundleError
from ..common.factory_protocol import FactoryProtocolError
from ..common.kernel_image import ROOT_PUBLIC_ENTRY
from .boot_rom import BootRom, VerifiedKernel, check_kernel
from .flash import FlashError
from .flash_layout import FACTORY_IMAGE, SFI_RECORD
from .provisioning_uart import ProvisioningUart, UartClosed
from .records import RecordSlot
from .state import DeviceState

log = logging.getLogger(__name__)

ANSWER_TIMEOUT_S = 120.0


class SfiError(Exception):
    """The install did not happen; the message says why (the ROM tries again at the next boot)."""


@dataclass(frozen=True)
class SfiRecord:
    """What the test program gets from the install that put it there."""

    card_certificate: bytes
    nonce: bytes
    authorization: bytes

    def to_bytes(self) -> bytes:
        return json.dumps({"card_certificate": self.card_certificate.decode(), "nonce": self.nonce.hex(),
                           "authorization": self.authorization.hex()}).encode()


def read_sfi_record(state: DeviceState) -> SfiRecord | None:
    raw = RecordSlot(state.internal_flash, SFI_RECORD).read()
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
        return SfiRecord(doc["card_certificate"].encode(), bytes.fromhex(doc["nonce"]),
                         bytes.fromhex(doc["authorization"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def qspi_reader(state: DeviceState) -> spi_image.Reader:
    """Reads the factory image region of QSPI; nothing outside it."""
    def reader(offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > FACTORY_IMAGE.size:
            raise spi_image.SpiImageError("a part lies outside the QSPI image region")
        return state.qspi.read(FACTORY_IMAGE.offset + offset, length)
    return reader


def read_image(state: DeviceState) -> spi_image.SpiImage:
    """The image in QSPI, its table checked against the root key this chip's OTP trusts."""
    return spi_image.read(qspi_reader(state), state.option_bytes.root_key_hash)


def check_kernel_part(reader: spi_image.Reader, image: spi_image.SpiImage, name: str, root_key_hash: bytes,
                      ratchet: int) -> VerifiedKernel:
    """A KernelManifest part of an image, with every check the ROM makes of a kernel, anchored to the
    root key the image's table names; SpiImageError with the reason."""
    try:
        bundle = Bundle.from_bytes(spi_image.read_part(reader, image, name))
        verified = check_kernel(bundle, root_key_hash, ratchet)
    except BundleError as exc:
        raise spi_image.SpiImageError(f"the image's {name} is refused: {exc}") from None
    if bundle.extras.get(ROOT_PUBLIC_ENTRY) != image.root:
        raise spi_image.SpiImageError(f"the image's {name} is anchored to another root key")
    return verified


def read_kernel_part(state: DeviceState, image: spi_image.SpiImage, name: str) -> VerifiedKernel:
    """A KernelManifest part of the image in this chip's QSPI, checked against its OTP."""
    ob = state.option_bytes
    return check_kernel_part(qspi_reader(state), image, name, ob.root_key_hash, ob.kernel_ratchet)


def install(state: DeviceState, uart: ProvisioningUart, timeout_s: float = ANSWER_TIMEOUT_S) -> None:
    """One install attempt; SfiError with the reason when it is refused."""
    uid, nonce = state.option_bytes.chip_uid, os.urandom(factory_protocol.NONCE_SIZE)
    uart.discard_input()
    uart.send({"event": "sfi-request", "chip_uid": uid.hex(), "nonce": nonce.hex()})
    try:
        answer = uart.receive(timeout_s)
        record = _authorized(state, answer, uid, nonce)
        image = read_image(state)
        test_program = read_kernel_part(state, image, "test-program")
        RecordSlot(state.internal_flash, SFI_RECORD).write(record.to_bytes())  # first: a cut after it
        BootRom(state).install_kernel(test_program.bundle)  # leaves a test program that fails to verify
    except (UartClosed, FactoryProtocolError, spi_image.SpiImageError, FlashError) as exc:
        uart.send({"event": "sfi-refused", "reason": str(exc)})
        raise SfiError(str(exc)) from None
    state.flush()
    uart.send({"event": "sfi-installed", "toc_hash": image.toc_hash})
    log.info("SFI: test program installed, authorized by the card for this chip")


def _authorized(state: DeviceState, answer: dict[str, Any], uid: bytes, nonce: bytes) -> SfiRecord:
    certificate, signature = answer.get("card_certificate"), answer.get("authorization")
    if not isinstance(certificate, str) or not isinstance(signature, str):
        raise FactoryProtocolError("the answer to the SFI request carries no card certificate and "
                                   "authorization")
    root_hash = state.option_bytes.root_key_hash
    if root_hash is None:
        raise FactoryProtocolError("this chip's OTP holds no root key")
    card = factory_protocol.read_card_certificate(certificate, root_hash)
    try:
        raw_signature = bytes.fromhex(signature)
    except ValueError:
        raise FactoryProtocolError("the authorization is not hexadecimal") from None
    factory_protocol.check_authorization(card, uid, nonce, raw_signature)
    return SfiRecord(card.raw, nonce, raw_signature)
