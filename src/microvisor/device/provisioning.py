"""Make a ready development device: OTP programmed, kernel installed, identity issued by the platform CA."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..common import keys
from ..common.bundle import Bundle
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
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise StateError(f"{path} exists and is not empty; a new device needs a new folder")
    with DeviceState.open(path, create=True, chip_uid=chip_uid) as state:
        sid = device_sid(state.option_bytes.chip_uid)
        device_key = keys.generate()
        write_identity(state, Identity(
            sid=sid,
            key_pem=keys.private_pem(device_key).decode(),
            certificate_pem=platform.issue_certificate(sid, device_key.public_key()).decode(),
            ca_pem=platform.ca_pem().decode(),
            customer_keys=[keys.raw_public(k).hex() for k in customer_keys],
            server=server,
        ))
        BootRom(state).install_kernel(kernel)
        ob = state.option_bytes
        ob.root_key_hash = platform.root_key_hash
        ob.kernel_ratchet = kernel.kernel_body().meta.version_security_ratchet
        ob.tzen = True
        ob.debug_locked = True
        ob.factory_mode = False
        state.flush()
    atomic_write(path / DEVELOPMENT_FILE,
                 (json.dumps({"platform": str(platform.path.resolve())}, indent=2) + "\n").encode())
    log.info("device %s created in %s", sid, path)
    return sid


def development_platform(path: Path) -> Path | None:
    """The platform folder a development device was made with, if it remembers one."""
    try:
        return Path(json.loads((Path(path) / DEVELOPMENT_FILE).read_text())["platform"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
