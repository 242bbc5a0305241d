"""The kernel image: the kernel package's source packed as one layer of a signed KernelManifest bundle."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography and protobuf load when a kernel is built, not with the constants below
    from .bundle import Bundle
    from .platform import Platform

KERNEL_SOURCE = Path(__file__).resolve().parents[1] / "kernel"
# The factory's test program is built and signed the same way (factory/test_program/__init__.py).
TEST_PROGRAM_SOURCE = Path(__file__).resolve().parents[1] / "factory" / "test_program"
TEST_PROGRAM_VERSION = "test-program 0.1.0"
VERSION_NUMBER = 1
VERSION_STRING = "0.3.0"
SECURITY_RATCHET = 1
# Entries of a kernel bundle besides the manifest and the layer.
ROOT_PUBLIC_ENTRY = "root.pub"  # the root public key, X9.62 (its SHA-256 is in the device's OTP)
KERNEL_SIGNERS_ENTRY = "kernel-signers"  # NewKeys, signed by root: who may sign kernels
APP_SIGNERS_ENTRY = "app-signers"  # NewKeys, signed by root: who may sign applications
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def pack_source(source: Path = KERNEL_SOURCE) -> bytes:
    """The kernel package's Python files as a reproducible ZIP (the kernel layer)."""
    files = sorted(p for p in Path(source).rglob("*.py") if "__pycache__" not in p.parts)
    if not any(p.name == "__init__.py" for p in files):
        raise FileNotFoundError(f"{source} holds no kernel package")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), _ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return out.getvalue()


def build(platform: Platform, *, version_number: int = VERSION_NUMBER,
          version_string: str = VERSION_STRING, ratchet: int = SECURITY_RATCHET,
          source: Path = KERNEL_SOURCE) -> Bundle:
    """The signed kernel bundle: manifest (by the kernel-signing key), layer, root-signed delegations."""
    from . import keys
    from .bundle import Bundle, delegate, sha256_hex
    from .manifest_schema import DEVICE_TYPE_IMP201F, KERNEL_LAYER_KERNEL, KernelBody, OpaqueManifest

    layer = pack_source(source)
    body = KernelBody()
    reference = body.layers.add(target=KERNEL_LAYER_KERNEL)
    reference.fetch_hash = bytes.fromhex(sha256_hex(layer))
    body.meta.version_security_ratchet = ratchet
    body.meta.device_type = DEVICE_TYPE_IMP201F
    body.meta.version_string = version_string
    body.meta.version_number = version_number
    bundle = Bundle(OpaqueManifest(body=body.SerializeToString(deterministic=True)))
    bundle.layers[sha256_hex(layer)] = layer
    bundle.extras = {
        ROOT_PUBLIC_ENTRY: keys.raw_public(platform.root_key.public_key()),
        KERNEL_SIGNERS_ENTRY: delegate(platform.root_key, [platform.kernel_key.public_key()])
        .SerializeToString(deterministic=True),
        APP_SIGNERS_ENTRY: delegate(platform.root_key, [platform.app_key.public_key()])
        .SerializeToString(deterministic=True),
    }
    bundle.sign(platform.kernel_key)
    return bundle
