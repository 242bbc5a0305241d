"""The boot ROM: apply a staged update, verify the kernel against the OTP root key, load it."""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from google.protobuf.message import DecodeError

from ..common import keys
from ..common.bundle import Bundle, BundleError, app_image_spans, delegated_signers
from ..common.kernel_image import APP_SIGNERS_ENTRY, KERNEL_SIGNERS_ENTRY, ROOT_PUBLIC_ENTRY
from ..common.manifest_schema import KERNEL_LAYER_KERNEL, KernelBody, OpaqueManifest
from .flash import FlashError
from .flash_layout import APP_RECORD, KERNEL_IMAGE, ROM_JOURNAL
from .identity import read_identity
from .kernel_loader import KernelLoadError, load_kernel
from .machine import Device
from .memory_map import APP_FLASH_SIZE
from .option_bytes import OtpError
from .records import RecordSlot
from .staging import KIND_KERNEL, Staging, StagingError
from .state import APP_FLASH_ARRAY_OFFSET, DeviceState

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("<I")


class BootError(Exception):
    """The ROM will not start the kernel; the message says why."""


@dataclass
class VerifiedKernel:
    """A kernel bundle that passed the ROM's checks."""

    bundle: Bundle
    body: KernelBody
    layer: bytes
    app_signers: list[keys.PublicKey]

    @property
    def version(self) -> int:
        return self.body.meta.version_number

    def describe(self) -> dict[str, Any]:
        meta = self.body.meta
        return {"version_number": meta.version_number, "version_string": meta.version_string,
                "security_ratchet": meta.version_security_ratchet,
                "manifest_hash": self.bundle.manifest_hash}


@dataclass
class BootReport:
    """What the ROM hands the kernel: the verified kernel, trust anchors and what it just did."""

    kernel: VerifiedKernel
    customer_keys: list[keys.PublicKey] = field(default_factory=list)
    applied: str | None = None  # "app" or "kernel" when this boot applied a staged update
    staging_outcome: dict[str, Any] | None = None


def check_kernel(bundle: Bundle, root_key_hash: bytes | None, ratchet: int) -> VerifiedKernel:
    """Every check the ROM makes of a kernel bundle; raises BundleError with the reason."""
    if root_key_hash is None:
        raise BundleError("the device has no root key in OTP")
    root_raw = bundle.extras.get(ROOT_PUBLIC_ENTRY, b"")
    if hashlib.sha256(root_raw).digest() != root_key_hash:
        raise BundleError("the kernel's root key is not the one in this device's OTP")
    root = keys.from_raw_public(root_raw)
    signers = _delegated(bundle, KERNEL_SIGNERS_ENTRY, root)
    app_signers = _delegated(bundle, APP_SIGNERS_ENTRY, root)
    try:
        bundle.check_signers(signers)
    except BundleError as exc:
        raise BundleError(f"kernel signature: {exc}") from None
    body = bundle.kernel_body()
    if body.meta.version_security_ratchet < ratchet:
        raise BundleError(f"the kernel's security ratchet {body.meta.version_security_ratchet} is "
                          f"lower than the {ratchet} this device has recorded")
    kernel_layers = [layer for layer in body.layers if layer.target == KERNEL_LAYER_KERNEL]
    if len(kernel_layers) != 1:
        raise BundleError("the kernel manifest must list exactly one kernel layer")
    layer = bundle.layer(kernel_layers[0].fetch_hash)
    return VerifiedKernel(bundle, body, layer, app_signers)


def _delegated(bundle: Bundle, entry: str, root: keys.PublicKey) -> list[keys.PublicKey]:
    if entry not in bundle.extras:
        raise BundleError(f"the kernel bundle has no '{entry}' record")
    return delegated_signers(bundle.extras[entry], root)


class BootRom:
    """Immutable boot code of one device."""

    def __init__(self, state: DeviceState):
        self.state = state
        self.staging = Staging(state)
        self.journal = RecordSlot(state.internal_flash, ROM_JOURNAL)
        self.app_record = RecordSlot(state.internal_flash, APP_RECORD)

    # --- the kernel in secure flash -----------------------------------------------------------
    def read_kernel_bundle(self) -> Bundle:
        flash = self.state.internal_flash
        (length,) = _LENGTH.unpack(flash.read(KERNEL_IMAGE.offset, _LENGTH.size))
        if not 0 < length <= KERNEL_IMAGE.size - _LENGTH.size:
            raise BundleError("no kernel is installed")
        return Bundle.from_bytes(flash.read(KERNEL_IMAGE.offset + _LENGTH.size, length))

    def verify_installed_kernel(self) -> VerifiedKernel:
        ob = self.state.option_bytes
        try:
            return check_kernel(self.read_kernel_bundle(), ob.root_key_hash, ob.kernel_ratchet)
        except BundleError as exc:
            raise BootError(f"kernel verification failed: {exc}") from None

    def install_kernel(self, bundle: Bundle) -> None:
        """Write a kernel bundle into secure flash (erase + program; identical pages cost nothing)."""
        data = bundle.to_bytes()
        if _LENGTH.size + len(data) > KERNEL_IMAGE.size:
            raise BundleError(f"a kernel bundle of {len(data)} bytes exceeds the kernel region")
        image = _LENGTH.pack(len(data)) + data
        self.state.internal_flash.load_image(KERNEL_IMAGE.offset, image)
        self._erase_tail(KERNEL_IMAGE.offset + len(image), KERNEL_IMAGE.end)

    # --- the application in flash -------------------------------------------------------------
    def install_app(self, bundle: Bundle) -> None:
        """Copy the layers into application flash, blank the rest, then record the manifest."""
        spans = app_image_spans(bundle)
        flash = self.state.internal_flash
        position = 0
        for start, size, data in spans:
            self._erase_tail(APP_FLASH_ARRAY_OFFSET + position, APP_FLASH_ARRAY_OFFSET + start)
            flash.load_image(APP_FLASH_ARRAY_OFFSET + start, data)
            position = start + size
            used = start + len(data) + (-len(data) % flash.page_size)
            self._erase_tail(APP_FLASH_ARRAY_OFFSET + used, APP_FLASH_ARRAY_OFFSET + position)
        self._erase_tail(APP_FLASH_ARRAY_OFFSET + position, APP_FLASH_ARRAY_OFFSET + APP_FLASH_SIZE)
        self.app_record.write(bundle.manifest.SerializeToString(deterministic=True))

    def _erase_tail(self, start: int, end: int) -> None:
        """Erase the pages in [start, end) that are not already blank (start rounded up to a page)."""
        flash = self.state.internal_flash
        page = flash.page_size
        first, last = -(-start // page) * page, end // page * page
        if last > first:
            flash.erase_dirty(first, last - first)

    def installed_app(self) -> Bundle | None:
        """The installed application's manifest (a bundle without layers), or None; BundleError if damaged."""
        raw = self.app_record.read()
        if raw is None:
            return None
        try:
            return Bundle(OpaqueManifest.FromString(raw))
        except DecodeError:
            raise BundleError("the installed application's manifest record cannot be decoded") from None

    # --- boot ---------------------------------------------------------------------------------
    def boot(self) -> tuple[ModuleType, BootReport]:
        """Apply staging, verify and load the kernel: (kernel package, report). Raises BootError."""
        identity = read_identity(self.state)
        customer_keys = []
        if identity is not None:
            customer_keys = [keys.from_raw_public(bytes.fromhex(k)) for k in identity.customer_keys]
        applied, outcome = self._apply_staging(customer_keys)
        kernel = self.verify_installed_kernel()
        ratchet = kernel.body.meta.version_security_ratchet
        try:
            self.state.option_bytes.kernel_ratchet = max(ratchet, self.state.option_bytes.kernel_ratchet)
        except OtpError as exc:  # cannot happen after check_kernel; kept for a clear message
            raise BootError(str(exc)) from None
        try:
            package = load_kernel(kernel.layer, kernel.bundle.manifest_hash)
        except KernelLoadError as exc:
            raise BootError(str(exc)) from None
        log.info("kernel %s verified and loaded", kernel.body.meta.version_string)
        return package, BootReport(kernel, customer_keys, applied, outcome)

    def last_outcome(self) -> dict[str, Any] | None:
        raw = self.journal.read()
        return None if raw is None else json.loads(raw)

    def _apply_staging(self, customer_keys: list[keys.PublicKey]) -> tuple[str | None, dict | None]:
        """Apply or discard what QSPI holds. Re-running after power loss finishes the same job."""
        try:
            staged = self.staging.read()
        except StagingError as exc:
            return None, self._discard("unknown", str(exc))
        if staged is None:
            return None, None
        try:
            bundle = Bundle.from_bytes(staged.payload)
            if staged.kind == KIND_KERNEL:
                ob = self.state.option_bytes
                check_kernel(bundle, ob.root_key_hash, ob.kernel_ratchet)
                self.install_kernel(bundle)
            else:
                try:
                    kernel = self.verify_installed_kernel()
                except BootError:
                    return None, None  # keep the application staged until a kernel verifies
                bundle.check_signers(kernel.app_signers, customer_keys)
                minimum = bundle.app_body().update.minimum_kernel_version
                if minimum > kernel.version:
                    raise BundleError(f"the application needs kernel version {minimum} or later; "
                                      f"this device runs {kernel.version}")
                self.install_app(bundle)
        except (BundleError, FlashError, keys.KeyFileError) as exc:
            return None, self._discard(staged.kind_name, str(exc))
        outcome = {"result": "applied", "kind": staged.kind_name, "manifest_hash": bundle.manifest_hash}
        self.journal.write(json.dumps(outcome, sort_keys=True).encode())
        self.staging.clear()
        log.info("staged %s %s applied", staged.kind_name, bundle.manifest_hash[:12])
        return staged.kind_name, outcome

    def _discard(self, kind: str, reason: str) -> dict[str, Any]:
        log.warning("staged %s discarded: %s", kind, reason)
        outcome = {"result": "discarded", "kind": kind, "reason": reason}
        self.journal.write(json.dumps(outcome, sort_keys=True).encode())
        self.staging.clear()
        return outcome


def power_on(state: DeviceState) -> tuple[Device, Any]:
    """Power the device on: the ROM runs, then the kernel it verified takes over (device, kernel)."""
    package, report = BootRom(state).boot()
    device = Device(state)
    try:
        return device, package.boot(device, report)
    except BaseException:
        device.close()
        raise
