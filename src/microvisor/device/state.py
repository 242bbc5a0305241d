"""A device is a state directory: its flashes, option bytes and backup registers, opened together."""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from .flash import (
    INTERNAL_FLASH_SIZE,
    INTERNAL_PAGE_SIZE,
    INTERNAL_PROGRAM_UNIT,
    FlashError,
    NorFlash,
    WriteCounter,
)
from .memory_map import APP_FLASH_SIZE
from .option_bytes import BackupRegisters, OptionBytes, OptionBytesError, atomic_write
from .qspi import QSPI_FAULTS, QspiFlash

log = logging.getLogger(__name__)

STATE_FORMAT = 1
STATE_KIND = "microvisor-device-state"
MARKER_FILE = "state.json"
INTERNAL_FLASH_FILE = "internal_flash.bin"
QSPI_FILE = "qspi.bin"
OPTION_BYTES_FILE = "option_bytes.json"
BACKUP_FILE = "backup_registers.bin"
BOARD_FILE = "board.json"  # the board around the chip: its radio and any QSPI fault (default: a good board)
RADIOS = ("cellular", "wifi")

# The first (secure) MiB of the internal flash array holds the kernel; the application's flash is
# the second MiB, which the application sees at 0x08000000.
APP_FLASH_ARRAY_OFFSET = 0x100000


class StateError(Exception):
    """A directory that is not (or not usable as) a device state directory."""


@dataclass(frozen=True)
class Board:
    """What is soldered around the chip: the radio module (None: missing) and a QSPI fault, if any."""

    radio: str | None = "cellular"
    qspi_fault: str | None = None

    @classmethod
    def load(cls, path: Path) -> Board:
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise StateError(f"{path} is damaged ({exc})") from None
        board = cls(**{k: doc.get(k) for k in ("radio", "qspi_fault")}) if isinstance(doc, dict) else None
        if board is None or board.radio not in (*RADIOS, None) \
                or board.qspi_fault not in (*QSPI_FAULTS, None):
            raise StateError(f"{path} does not describe a board")
        return board

    def save(self, path: Path) -> None:
        atomic_write(path, (json.dumps(self.__dict__, indent=2) + "\n").encode())


class DeviceState:
    """The persistent state of one device; use DeviceState.open(). A context manager."""

    def __init__(
        self,
        path: Path,
        *,
        temporary: bool,
        lock_fd: int,
        counter: WriteCounter,
        internal_flash: NorFlash,
        qspi: QspiFlash,
        option_bytes: OptionBytes,
        backup: BackupRegisters,
        board: Board,
    ):
        self.path = path
        self.temporary = temporary
        self.counter = counter
        self.internal_flash = internal_flash
        self.qspi = qspi
        self.option_bytes = option_bytes
        self.backup = backup
        self.board = board
        self._lock_fd = lock_fd
        self._closed = False

    @classmethod
    def open(
        cls,
        path: Path | None,
        *,
        power_cut_after: int | None = None,
        create: bool = True,
        chip_uid: bytes | None = None,
        hardware_key: bytes | None = None,
    ) -> DeviceState:
        """Open the device in path (creating it if allowed); None: a throw-away device.

        chip_uid and hardware_key are used only when the device is created (random otherwise).
        """
        temporary = path is None
        if path is None:
            path = Path(tempfile.mkdtemp(prefix="microvisor-device-"))
        path = Path(path)
        try:
            _prepare(path, create)
            lock_fd = _lock(path)
        except BaseException:
            if temporary:
                shutil.rmtree(path, ignore_errors=True)
            raise
        counter = WriteCounter(power_cut_after)
        opened: list[NorFlash | QspiFlash] = []
        try:
            internal = NorFlash(
                path / INTERNAL_FLASH_FILE,
                INTERNAL_FLASH_SIZE,
                INTERNAL_PAGE_SIZE,
                INTERNAL_PROGRAM_UNIT,
                counter,
                require_erased_unit=True,
                name="internal flash",
            )
            opened.append(internal)
            board = Board.load(path / BOARD_FILE)
            qspi = QspiFlash(path / QSPI_FILE, counter, board.qspi_fault)
            opened.append(qspi)
            option_bytes = OptionBytes.open(path / OPTION_BYTES_FILE, chip_uid=chip_uid,
                                            hardware_key=hardware_key)
            backup = BackupRegisters(path / BACKUP_FILE)
        except (FlashError, OptionBytesError, StateError) as e:
            _abandon(path, temporary, lock_fd, opened)
            raise StateError(f"{path}: {e}") from e
        except BaseException:
            _abandon(path, temporary, lock_fd, opened)
            raise
        log.info("device state %s opened (UID %s)", path, option_bytes.chip_uid.hex())
        return cls(
            path,
            temporary=temporary,
            lock_fd=lock_fd,
            counter=counter,
            internal_flash=internal,
            qspi=qspi,
            option_bytes=option_bytes,
            backup=backup,
            board=board,
        )

    def load_app_image(self, image: bytes) -> int:
        """Write a flat application image at the start of application flash; returns writes.

        Erases only the pages it needs, programs in 16-byte units (tail padded with 0xFF) and
        skips pages that already hold the same bytes: the same firmware again costs no writes.
        """
        if len(image) > APP_FLASH_SIZE:
            raise FlashError(
                f"application image of {len(image)} bytes exceeds the {APP_FLASH_SIZE}-byte app flash"
            )
        writes = self.internal_flash.load_image(APP_FLASH_ARRAY_OFFSET, image)
        log.info("application image of %d bytes loaded with %d flash writes", len(image), writes)
        return writes

    def app_flash_view(self) -> memoryview:
        """A read-only live view of the 1 MiB application flash, for mapping into the CPU."""
        return self.internal_flash.view(APP_FLASH_ARRAY_OFFSET, APP_FLASH_SIZE)

    def describe(self) -> dict[str, Any]:
        """A summary for the CLI: paths, sizes, write count, chip UID and option bytes."""
        qspi_path = self.path / QSPI_FILE
        ob = self.option_bytes
        return {
            "path": str(self.path),
            "temporary": self.temporary,
            "format": STATE_FORMAT,
            "chip_uid": ob.chip_uid.hex(),
            "tzen": ob.tzen,
            "debug_locked": ob.debug_locked,
            "factory_mode": ob.factory_mode,
            "root_key_hash": None if ob.root_key_hash is None else ob.root_key_hash.hex(),
            "kernel_ratchet": ob.kernel_ratchet,
            "write_count": self.counter.count,
            "power_cut_after": self.counter.power_cut_after,
            "internal_flash": {
                "file": str(self.path / INTERNAL_FLASH_FILE),
                "size": self.internal_flash.size,
                "page_size": self.internal_flash.page_size,
                "program_unit": self.internal_flash.program_unit,
                "app_offset": APP_FLASH_ARRAY_OFFSET,
            },
            "qspi": {
                "file": str(qspi_path),
                "size": self.qspi.size,
                "sector_size": self.qspi.sector_size,
                "jedec_id": self.qspi.jedec_id.hex(),
                "disk_bytes": qspi_path.stat().st_blocks * 512 if qspi_path.exists() else 0,
            },
        }

    def flush(self) -> None:
        self.internal_flash.flush()
        self.qspi.flush()

    def close(self) -> None:
        """Flush and release the device; a throw-away device's directory is removed."""
        if self._closed:
            return
        self._closed = True
        _abandon(self.path, self.temporary, self._lock_fd, [self.internal_flash, self.qspi])
        log.info("device state %s closed", self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _prepare(path: Path, create: bool) -> None:
    """Check path is a device state dir, or make it one; never clobber anything else."""
    marker = path / MARKER_FILE
    if path.exists() and not path.is_dir():
        raise StateError(f"{path} is not a directory")
    if marker.exists():
        try:
            doc = json.loads(marker.read_text())
        except ValueError as e:
            raise StateError(f"{marker} is damaged ({e})") from e
        if not isinstance(doc, dict) or doc.get("kind") != STATE_KIND:
            raise StateError(f"{path} is not a device state directory ({marker} is not ours)")
        if doc.get("format") != STATE_FORMAT:
            raise StateError(
                f"{path} has state format {doc.get('format')!r}; this version reads {STATE_FORMAT}"
            )
        return
    if not create:
        raise StateError(f"no device state in {path}")
    if path.exists() and any(path.iterdir()):
        raise StateError(
            f"{path} is not empty and not a device state directory (no {MARKER_FILE}); "
            "refusing to use it"
        )
    path.mkdir(parents=True, exist_ok=True)
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    doc = {"kind": STATE_KIND, "format": STATE_FORMAT, "created": created}
    atomic_write(marker, (json.dumps(doc, indent=2) + "\n").encode())
    log.info("created device state directory %s", path)


def _lock(path: Path) -> int:
    """Take an exclusive lock on the directory so two runs never share one device."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateError(f"{path} is in use by another device run") from None
    return fd


def _abandon(
    path: Path, temporary: bool, lock_fd: int, flashes: list[NorFlash | QspiFlash]
) -> None:
    """Close what was opened, drop the lock, and remove a throw-away directory."""
    try:
        for flash in flashes:
            flash.close()
    finally:
        os.close(lock_fd)
        if temporary:
            shutil.rmtree(path, ignore_errors=True)
