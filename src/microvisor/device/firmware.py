"""Application firmware files: an ELF or a flat binary for 0x08000000, checked and flattened."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

from .memory_map import APP_FLASH, SRAM


class FirmwareError(Exception):
    """The firmware file cannot run on the device; the message says why in one sentence."""


@dataclass(frozen=True)
class FirmwareImage:
    """A flat image of the application flash, starting at 0x08000000."""

    data: bytes
    source: Path
    initial_sp: int
    reset_handler: int

    @property
    def size(self) -> int:
        return len(self.data)


def _flatten_elf(path: Path, raw: bytes) -> bytes:
    from elftools.common.exceptions import ELFError  # the ELF reader loads for an ELF file only
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(raw))
        if elf["e_machine"] != "EM_ARM" or elf.elfclass != 32 or not elf.little_endian:
            raise FirmwareError(f"{path} is not a 32-bit little-endian Arm ELF file.")
        image = bytearray()
        for segment in elf.iter_segments():
            if segment["p_type"] != "PT_LOAD" or segment["p_filesz"] == 0:
                continue
            address, data = segment["p_paddr"], segment.data()
            if len(data) != segment["p_filesz"]:
                raise FirmwareError(f"{path} is truncated: a segment runs past the end of the file.")
            if not APP_FLASH.contains(address, len(data)):
                raise FirmwareError(
                    f"{path} is linked for 0x{address:08x}, outside the application flash "
                    f"(0x{APP_FLASH.start:08x}, {APP_FLASH.size // 1024} KiB): "
                    "link it with the SDK's linker script."
                )
            offset = address - APP_FLASH.start
            if len(image) < offset + len(data):
                image.extend(b"\xff" * (offset + len(data) - len(image)))
            image[offset:offset + len(data)] = data
    except (ELFError, struct.error, ValueError, OSError) as exc:
        raise FirmwareError(f"{path} is not a valid ELF file (truncated or corrupt): {exc}.") from exc
    if not image:
        raise FirmwareError(f"{path} has nothing to load into the application flash.")
    return bytes(image)


def load_firmware(path: Path) -> FirmwareImage:
    """Read and check a firmware file; raises FirmwareError with one clear sentence."""
    path = Path(path)
    if not path.exists():
        raise FirmwareError(f"Firmware file {path} does not exist.")
    if not path.is_file():
        raise FirmwareError(f"Firmware path {path} is not a file.")
    raw = path.read_bytes()
    if raw[:4] == b"\x7fELF":
        data = _flatten_elf(path, raw)
    else:
        data = raw
        if len(data) > APP_FLASH.size:
            raise FirmwareError(
                f"{path} is {len(data)} bytes, larger than the 1 MiB application flash."
            )
    if len(data) < 8:
        raise FirmwareError(f"{path} is truncated: {len(data)} bytes, not even a vector table.")
    initial_sp, reset = struct.unpack_from("<II", data)
    if not (SRAM.start < initial_sp <= SRAM.end):
        raise FirmwareError(
            f"{path} does not look linked for 0x08000000: its initial stack pointer "
            f"0x{initial_sp:08x} is not in SRAM."
        )
    if not (reset & 1 and APP_FLASH.contains(reset & ~1, 2) and (reset & ~1) - APP_FLASH.start < len(data)):
        raise FirmwareError(
            f"{path} does not look linked for 0x08000000: its reset vector 0x{reset:08x} "
            "is not a Thumb address inside the image."
        )
    return FirmwareImage(data, path, initial_sp, reset)
