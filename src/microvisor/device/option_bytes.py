"""The device's option bytes, OTP and TAMP backup registers, persisted durably in the state dir."""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHIP_UID_SIZE = 12  # the STM32U5's 96-bit unique device ID
ROOT_KEY_HASH_SIZE = 32  # SHA-256
BACKUP_REGISTER_COUNT = 32  # TAMP_BKP0R .. TAMP_BKP31R
_FORMAT = 1


class OptionBytesError(Exception):
    """An invalid option byte value, or a damaged option bytes file."""


class OtpError(OptionBytesError):
    """A write that one-time-programmable or monotonic storage refuses."""


def atomic_write(path: Path, data: bytes) -> None:
    """Replace path with data durably: temp file in the same dir, fsync, rename, fsync dir."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class OptionBytes:
    """Chip UID, TrustZone enable, debug lock, OTP root-key hash, kernel ratchet, factory mode.

    A fresh device is a blank chip: TrustZone off, debug port open, no root key, factory mode.
    Every change is written to the file (when there is one) before the setter returns.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        chip_uid: bytes,
        tzen: bool = False,
        debug_locked: bool = False,
        root_key_hash: bytes | None = None,
        kernel_ratchet: int = 0,
        factory_mode: bool = True,
        hardware_key: bytes | None = None,
    ):
        if len(chip_uid) != CHIP_UID_SIZE:
            raise OptionBytesError(f"chip UID must be {CHIP_UID_SIZE} bytes, not {len(chip_uid)}")
        if root_key_hash is not None and len(root_key_hash) != ROOT_KEY_HASH_SIZE:
            raise OptionBytesError(f"root key hash must be {ROOT_KEY_HASH_SIZE} bytes")
        self.path = path
        self._chip_uid = bytes(chip_uid)
        self._tzen = tzen
        self._debug_locked = debug_locked
        self._root_key_hash = root_key_hash
        self._kernel_ratchet = kernel_ratchet
        self._factory_mode = factory_mode
        # The device-unique secret (like the STM32's hardware unique key) that staging keys derive from.
        self._hardware_key = secrets.token_bytes(32) if hardware_key is None else bytes(hardware_key)

    @classmethod
    def open(
        cls, path: Path | None, *, create: bool = True, chip_uid: bytes | None = None,
        hardware_key: bytes | None = None,
    ) -> OptionBytes:
        """Load the option bytes from path, or create a blank chip's (random UID and key unless given)."""
        if path is not None and path.exists():
            return cls._load(path)
        if not create:
            raise OptionBytesError(f"no option bytes at {path}")
        uid = secrets.token_bytes(CHIP_UID_SIZE) if chip_uid is None else chip_uid
        option_bytes = cls(path, chip_uid=uid, hardware_key=hardware_key)
        log.info("new chip, UID %s", option_bytes.chip_uid.hex())
        option_bytes._save()
        return option_bytes

    @classmethod
    def _load(cls, path: Path) -> OptionBytes:
        try:
            doc: dict[str, Any] = json.loads(path.read_text())
            if doc.get("format") != _FORMAT:
                raise OptionBytesError(f"{path}: unsupported format {doc.get('format')!r}")
            root = doc["root_key_hash"]
            option_bytes = cls(
                path,
                chip_uid=bytes.fromhex(doc["chip_uid"]),
                tzen=bool(doc["tzen"]),
                debug_locked=bool(doc["debug_locked"]),
                root_key_hash=None if root is None else bytes.fromhex(root),
                kernel_ratchet=int(doc["kernel_ratchet"]),
                factory_mode=bool(doc["factory_mode"]),
                hardware_key=bytes.fromhex(doc["hardware_key"]) if doc.get("hardware_key") else None,
            )
            if not doc.get("hardware_key"):
                option_bytes._save()  # an older file: keep the key made now
            return option_bytes
        except (ValueError, KeyError, TypeError) as e:
            raise OptionBytesError(f"{path}: damaged option bytes ({e})") from e

    def _save(self) -> None:
        if self.path is None:
            return
        atomic_write(self.path, (json.dumps(self.to_dict(), indent=2) + "\n").encode())

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "chip_uid": self._chip_uid.hex(),
            "tzen": self._tzen,
            "debug_locked": self._debug_locked,
            "root_key_hash": None if self._root_key_hash is None else self._root_key_hash.hex(),
            "kernel_ratchet": self._kernel_ratchet,
            "factory_mode": self._factory_mode,
            "hardware_key": self._hardware_key.hex(),
        }

    @property
    def chip_uid(self) -> bytes:
        return self._chip_uid

    @property
    def tzen(self) -> bool:
        return self._tzen

    @tzen.setter
    def tzen(self, value: bool) -> None:
        self._tzen = bool(value)
        self._save()

    @property
    def debug_locked(self) -> bool:
        return self._debug_locked

    @debug_locked.setter
    def debug_locked(self, value: bool) -> None:
        self._debug_locked = bool(value)
        self._save()

    @property
    def factory_mode(self) -> bool:
        return self._factory_mode

    @factory_mode.setter
    def factory_mode(self, value: bool) -> None:
        self._factory_mode = bool(value)
        self._save()

    @property
    def hardware_key(self) -> bytes:
        """32 secret bytes unique to this chip, never shown to the application."""
        return self._hardware_key

    @property
    def root_key_hash(self) -> bytes | None:
        return self._root_key_hash

    @root_key_hash.setter
    def root_key_hash(self, value: bytes) -> None:
        """OTP: may be written once; writing the same value again is accepted."""
        value = bytes(value)
        if len(value) != ROOT_KEY_HASH_SIZE:
            raise OptionBytesError(f"root key hash must be {ROOT_KEY_HASH_SIZE} bytes")
        if self._root_key_hash is not None:
            if value != self._root_key_hash:
                raise OtpError("the root key hash is one-time programmable and already written")
            return
        self._root_key_hash = value
        self._save()

    @property
    def kernel_ratchet(self) -> int:
        return self._kernel_ratchet

    @kernel_ratchet.setter
    def kernel_ratchet(self, value: int) -> None:
        """Monotonic: may only stay or increase (anti-rollback for the kernel)."""
        if value < self._kernel_ratchet:
            raise OtpError(
                f"the kernel ratchet only increases: it is {self._kernel_ratchet}, not {value}"
            )
        if value != self._kernel_ratchet:
            self._kernel_ratchet = value
            self._save()


class BackupRegisters:
    """The 32 TAMP backup registers: 32-bit values that survive resets; clear() is a tamper."""

    def __init__(self, path: Path | None):
        self.path = path
        self._values = [0] * BACKUP_REGISTER_COUNT
        if path is not None and path.exists():
            raw = path.read_bytes()
            if len(raw) != 4 * BACKUP_REGISTER_COUNT:
                raise OptionBytesError(
                    f"{path}: {len(raw)} bytes, expected {4 * BACKUP_REGISTER_COUNT}"
                )
            self._values = [int.from_bytes(raw[i : i + 4], "little") for i in range(0, len(raw), 4)]
        elif path is not None:
            self._save()

    def _save(self) -> None:
        if self.path is not None:
            atomic_write(self.path, b"".join(v.to_bytes(4, "little") for v in self._values))

    def _check_index(self, index: int) -> None:
        if not 0 <= index < BACKUP_REGISTER_COUNT:
            raise OptionBytesError(f"backup register {index} does not exist (0..31)")

    def read(self, index: int) -> int:
        self._check_index(index)
        return self._values[index]

    def write(self, index: int, value: int) -> None:
        self._check_index(index)
        if not 0 <= value <= 0xFFFF_FFFF:
            raise OptionBytesError(f"backup register value {value:#x} is not 32 bits")
        if self._values[index] != value:
            self._values[index] = value
            self._save()

    def clear(self) -> None:
        """Reset every register to zero, as a tamper event does."""
        log.info("backup registers cleared")
        self._values = [0] * BACKUP_REGISTER_COUNT
        self._save()
