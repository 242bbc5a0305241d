"""Build and inspect the factory's SPI image: every part checked as the device will check it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ..common import spi_image
from ..common.bundle import Bundle, BundleError, app_image_spans
from ..common.kernel_image import ROOT_PUBLIC_ENTRY, TEST_PROGRAM_VERSION
from ..common.platform import Platform
from ..device.boot_rom import VerifiedKernel, check_kernel
from ..device.sfi_loader import check_kernel_part


class ImageError(Exception):
    """A part that cannot go into an image, or an image that does not verify; the message says why."""


def build_image(platform: Platform, test_program: Bundle, kernel: Bundle, test_bundle: Bundle,
                app_bundle: Bundle) -> bytes:
    """The image: kernels checked against the platform's root key, bundles co-signed by its app key."""
    checked = {}
    for name, bundle in (("test program", test_program), ("kernel", kernel)):
        try:
            checked[name] = check_kernel(bundle, platform.root_key_hash, 0)
        except BundleError as exc:
            raise ImageError(f"the {name} is not one this platform signed: {exc}") from None
    if checked["test program"].body.meta.version_string != TEST_PROGRAM_VERSION:
        raise ImageError(f"the test program is not a Microvisor test program (it says "
                         f"{checked['test program'].body.meta.version_string!r})")
    if checked["kernel"].body.meta.version_string == TEST_PROGRAM_VERSION:
        raise ImageError("the kernel given is the test program")
    for name, bundle in (("test bundle", test_bundle), ("application bundle", app_bundle)):
        try:
            _application(bundle)
        except BundleError as exc:
            raise ImageError(f"the {name} is not an application bundle: {exc}") from None
        if not bundle.signed_by(platform.app_key.public_key()):
            bundle.sign(platform.app_key)  # as the service co-signs an upload
    parts = {"test-program": test_program, "kernel": kernel, "test-bundle": test_bundle,
             "app-bundle": app_bundle}
    return spi_image.build(platform, {name: bundle.to_bytes() for name, bundle in parts.items()})


@dataclass
class PartReport:
    name: str
    offset: int
    size: int
    sha256: str
    verified: bool
    detail: str


def inspect_image(data: bytes, root_key_hash: bytes | None) -> tuple[dict[str, Any], list[PartReport]]:
    """The table of contents (verified, or ImageError) and what each part's own checks say."""
    reader = spi_image.file_reader(data)
    try:
        image = spi_image.read(reader, root_key_hash)
    except spi_image.SpiImageError as exc:
        raise ImageError(str(exc)) from None
    anchor = root_key_hash or hashlib.sha256(image.root).digest()
    reports, kernel = [], None
    for name in spi_image.PARTS:
        part = image.parts[name]
        report = PartReport(name, part.offset, part.size, part.sha256.hex(), False, "")
        reports.append(report)
        try:
            if name in spi_image.KERNEL_PARTS:
                verified = check_kernel_part(reader, image, name, anchor, 0)
                kernel = verified if name == "kernel" else kernel
                report.detail = (f"{verified.body.meta.version_string}, manifest "
                                 f"{verified.bundle.manifest_hash[:16]}…")
            else:
                bundle = Bundle.from_bytes(spi_image.read_part(reader, image, name))
                _check_app(bundle, kernel)
                report.detail = f"application, manifest {bundle.manifest_hash[:16]}…"
            report.verified = True
        except (spi_image.SpiImageError, BundleError) as exc:
            report.detail = str(exc)
    return image.describe(), reports


def _application(bundle: Bundle) -> None:
    """An application bundle as the device will install it (a kernel bundle is not one)."""
    if ROOT_PUBLIC_ENTRY in bundle.extras:
        raise BundleError("it is a kernel bundle")
    app_image_spans(bundle)


def _check_app(bundle: Bundle, kernel: VerifiedKernel | None) -> None:
    _application(bundle)
    if kernel is None:
        raise BundleError("no verified kernel in the image to check the application's signature with")
    bundle.check_signers(kernel.app_signers)
