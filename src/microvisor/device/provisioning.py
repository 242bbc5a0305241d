"""Make a ready development device: OTP programmed, kernel installed, identity issued by the platform CA."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

from ..common import keys
from ..common.bundle import Bundle
from ..common.kernel_image import ROOT_PUBLIC_ENTRY
from ..common.platform import Platform
from ..common.sids import device_sid
from .boot_rom import BootRom
from .identity import Identity, write_identity
from .option_bytes import atomic_write
from .state import DeviceState, StateError

log = logging.getLogger(__name__)

DEVELOPMENT_FILE = "development.json"  # where a development device remembers its platform


def create_device(path: Path, platform: Platform, kernel: Bundle, *, chip_uid: bytes | None = None,
                  customer_keys: list[keys.PublicKey] = (), server: str | None = None) -> str:
    """Create the device in a new folder; returns its SID. The device is closed afterwards."""
    device_key = keys.generate()

    def identity(sid: str) -> Identity:
        return Identity(sid=sid, key_pem=keys.private_pem(device_key).decode(),
                        certificate_pem=platform.issue_certificate(sid, device_key.public_key()).decode(),
                        ca_pem=platform.ca_pem().decode(),
                        customer_keys=[keys.raw_public(k).hex() for k in customer_keys], server=server)

    sid = _make(path, kernel, platform.root_key_hash, identity, chip_uid)
    atomic_write(path / DEVELOPMENT_FILE,
                 (json.dumps({"platform": str(platform.path.resolve())}, indent=2) + "\n").encode())
    return sid


def create_registered_device(path: Path, kernel: Bundle, identity: Identity, chip_uid: bytes) -> str:
    """Create a device a service registered: its identity (key, certificate, CA, broker) and the
    service's kernel; the OTP trusts the root key that kernel carries. Returns its SID."""
    root = kernel.extras.get(ROOT_PUBLIC_ENTRY)
    if root is None:
        raise StateError("the service's kernel bundle carries no root key")
    return _make(path, kernel, hashlib.sha256(root).digest(), lambda sid: identity, chip_uid)


def _make(path: Path, kernel: Bundle, root_key_hash: bytes, identity: Callable[[str], Identity],
          chip_uid: bytes | None) -> str:
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise StateError(f"{path} exists and is not empty; a new device needs a new folder")
    with DeviceState.open(path, create=True, chip_uid=chip_uid) as state:
        sid = device_sid(state.option_bytes.chip_uid)
        made = identity(sid)
        if made.sid != sid:
            raise StateError(f"the identity is for {made.sid}, not for this chip ({sid})")
        write_identity(state, made)
        BootRom(state).install_kernel(kernel)
        ob = state.option_bytes
        ob.root_key_hash = root_key_hash
        ob.kernel_ratchet = kernel.kernel_body().meta.version_security_ratchet
        ob.tzen = True
        ob.debug_locked = True
        ob.factory_mode = False
        state.flush()
    log.info("device %s created in %s", sid, path)
    return sid


def development_platform(path: Path) -> Path | None:
    """The platform folder a development device was made with, if it remembers one."""
    try:
        return Path(json.loads((Path(path) / DEVELOPMENT_FILE).read_text())["platform"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
