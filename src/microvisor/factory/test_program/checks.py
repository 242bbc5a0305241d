"""Step 5: the test program's hardware checks (QSPI part, its commands, the radio), each with a reason."""

from __future__ import annotations

import os
from dataclasses import dataclass

from microvisor.device.flash import FlashError
from microvisor.device.flash_layout import APP_PARTITION, FACTORY_IMAGE
from microvisor.device.qspi import QSPI_JEDEC_ID, QSPI_SIZE
from microvisor.device.state import DeviceState

SCRATCH = APP_PARTITION.end - 4096  # the last QSPI sector: written, read back and erased


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


def run_checks(state: DeviceState) -> list[Check]:
    """Every check, in order; later ones still run after a failure so the report is whole."""
    return [_jedec(state), _capacity(state), _commands(state), _radio(state)]


def _jedec(state: DeviceState) -> Check:
    found = state.qspi.jedec_id
    if found[:2] != QSPI_JEDEC_ID[:2]:
        return Check("qspi-id", False, f"no QSPI flash answers the JEDEC ID command (read {found.hex()})")
    return Check("qspi-id", True, f"JEDEC ID {found.hex()}")


def _capacity(state: DeviceState) -> Check:
    density = state.qspi.jedec_id[2]
    # JEDEC density: 2^n bytes for small parts; from 0x20 up (Macronix, Micron), 2^(n - 0x20) bytes.
    size = 1 << (density - 0x20) if 0x20 <= density < 0x40 else 1 << density if 0x10 <= density else 0
    if size < QSPI_SIZE:
        return Check("qspi-size", False, f"the QSPI part reports {size // 1024 // 1024} MiB; "
                                         f"{QSPI_SIZE // 1024 // 1024} MiB are required")
    return Check("qspi-size", True, f"{size // 1024 // 1024} MiB")


def _commands(state: DeviceState) -> Check:
    """Erase, program and read back a scratch sector outside the image."""
    assert not FACTORY_IMAGE.offset <= SCRATCH < FACTORY_IMAGE.end
    qspi, pattern = state.qspi, os.urandom(256)
    try:
        qspi.erase_sector(SCRATCH // qspi.sector_size)
        erased = qspi.read(SCRATCH, 256) == b"\xff" * 256
        qspi.program(SCRATCH, pattern)
        readback = qspi.read(SCRATCH, 256)
        qspi.erase_sector(SCRATCH // qspi.sector_size)
    except FlashError as exc:
        return Check("qspi-commands", False, f"a QSPI command failed: {exc}")
    if not erased:
        return Check("qspi-commands", False, "an erased QSPI sector does not read back blank")
    if readback != pattern:
        bad = next(i for i, (a, b) in enumerate(zip(readback, pattern, strict=True)) if a != b)
        return Check("qspi-commands", False, f"QSPI data read back wrong at {SCRATCH + bad:#x} "
                                             f"({readback[bad]:02x}, wrote {pattern[bad]:02x})")
    return Check("qspi-commands", True, "erase, program and read back")


def _radio(state: DeviceState) -> Check:
    if state.board.radio is None:
        return Check("radio", False, "no radio module answers")
    return Check("radio", True, state.board.radio)
