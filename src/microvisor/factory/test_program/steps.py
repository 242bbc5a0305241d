"""Steps 5 to 8 of the test program, each reported to the station over the provisioning UART."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from microvisor.common import keys, spi_image
from microvisor.common.bundle import Bundle, BundleError
from microvisor.common.factory_protocol import (
    CHALLENGE_SIZE,
    Attestation,
    FactoryProtocolError,
    read_provisioning,
)
from microvisor.common.sids import device_sid
from microvisor.device.boot_rom import BootRom
from microvisor.device.flash import FlashError
from microvisor.device.identity import Identity, read_identity, write_identity
from microvisor.device.provisioning_uart import UartClosed
from microvisor.device.sfi_loader import qspi_reader, read_image, read_kernel_part, read_sfi_record

from . import ANSWER_TIMEOUT_S, StepFailed
from .checks import run_checks


def run_steps(state: Any, report: Any, uart: Any) -> None:
    uart.send({"event": "test-program-started", "step": 5})
    checks = run_checks(state)
    failed = [c for c in checks if not c.passed]
    uart.send({"event": "hardware", "step": 5, "passed": not failed,
               "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in checks]})
    if failed:
        raise StepFailed(5, "; ".join(c.detail for c in failed))
    identity = read_identity(state)
    if identity is None or not identity.certificate_pem:
        try:
            identity = _certify(state, uart, identity)
        except UartClosed as exc:
            raise StepFailed(7, str(exc)) from None
    else:
        uart.send({"event": "certified", "step": 7, "device_sid": identity.sid, "again": True})
    _install(state, uart)


def _certify(state: Any, uart: Any, pending: Identity | None) -> Identity:
    """Steps 6 and 7: a key made here (once), its CSR countersigned, the certificate stored."""
    uid = state.option_bytes.chip_uid
    sid = device_sid(uid)
    if pending is not None and pending.sid == sid:
        key = serialization.load_pem_private_key(pending.key_pem.encode(), None)
    else:
        key = keys.generate()
        write_identity(state, Identity(sid=sid, key_pem=keys.private_pem(key).decode(), certificate_pem="",
                                       ca_pem=""))
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sid)]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    sfi = read_sfi_record(state)
    if sfi is None:
        raise StepFailed(6, "the SFI loader left no authorization for this chip")
    uart.send({"event": "challenge-request", "step": 6, "chip_uid": uid.hex(), "device_sid": sid})
    answer = uart.receive(ANSWER_TIMEOUT_S)
    try:
        challenge = bytes.fromhex(answer.get("challenge", ""))
    except (TypeError, ValueError):
        challenge = b""
    if len(challenge) != CHALLENGE_SIZE:
        raise StepFailed(6, "the station sent no challenge from the service")
    attestation = Attestation(uid, csr, sfi.card_certificate, sfi.nonce, sfi.authorization,
                              challenge).countersigned(state.option_bytes.hardware_key)
    uart.send({"event": "attestation", "step": 6, "attestation": attestation.to_json()})
    answer = uart.receive(ANSWER_TIMEOUT_S)
    if "provisioning" not in answer:
        raise StepFailed(7, f"the service refused the CSR: {answer.get('refused', 'no reason given')}")
    try:
        provisioning = read_provisioning(str(answer["provisioning"]), state.option_bytes.root_key_hash,
                                         challenge)
    except FactoryProtocolError as exc:
        raise StepFailed(7, f"the answer is not the service's: {exc}") from None
    identity = Identity(sid=sid, key_pem=keys.private_pem(key).decode(),
                        certificate_pem=_checked_certificate(provisioning.certificate_pem, key, sid),
                        ca_pem=provisioning.ca_pem, broker=provisioning.broker or None)
    write_identity(state, identity)
    uart.send({"event": "certified", "step": 7, "device_sid": sid, "again": False})
    return identity


def _checked_certificate(pem: Any, key: Any, sid: str) -> str:
    try:
        certificate = x509.load_pem_x509_certificate(str(pem).encode())
    except ValueError:
        raise StepFailed(7, "the certificate from the service is not a PEM certificate") from None
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if keys.raw_public(certificate.public_key()) != keys.raw_public(key.public_key()) \
            or [n.value for n in names] != [sid]:
        raise StepFailed(7, "the certificate from the service is not for this chip's key")
    return str(pem)


def _install(state: Any, uart: Any) -> None:
    """Step 8: the test bundle into application flash, then the microvisor over this program."""
    try:
        image = read_image(state)
        verified = read_kernel_part(state, image, "kernel")
        test_bundle = Bundle.from_bytes(spi_image.read_part(qspi_reader(state), image, "test-bundle"))
        test_bundle.check_signers(verified.app_signers)
        rom = BootRom(state)
        rom.install_app(test_bundle)
        rom.install_kernel(verified.bundle)  # the commit point: from now on the ROM boots the microvisor
        state.flush()
    except (spi_image.SpiImageError, BundleError, FlashError) as exc:
        raise StepFailed(8, f"the microvisor cannot be installed: {exc}") from None
    uart.send({"event": "microvisor-installed", "step": 8,
               "kernel": verified.describe()["version_string"], "test_bundle": test_bundle.manifest_hash})
