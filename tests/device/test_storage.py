"""The device's persistent storage: NOR rules, write counting and power cuts, the state dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from microvisor.device.flash import (
    INTERNAL_FLASH_SIZE,
    INTERNAL_PAGE_SIZE,
    INTERNAL_PROGRAM_UNIT,
    FlashError,
    NorFlash,
    PowerCut,
    WriteCounter,
)
from microvisor.device.option_bytes import BackupRegisters, OptionBytes, OtpError
from microvisor.device.qspi import QspiFlash
from microvisor.device.state import APP_FLASH_ARRAY_OFFSET, DeviceState, StateError

PAGE = INTERNAL_PAGE_SIZE
UNIT = INTERNAL_PROGRAM_UNIT


def internal(counter: WriteCounter | None = None, path: Path | None = None) -> NorFlash:
    return NorFlash(
        path,
        INTERNAL_FLASH_SIZE,
        PAGE,
        UNIT,
        counter or WriteCounter(),
        require_erased_unit=True,
        name="internal flash",
    )


# -- NOR rules ----------------------------------------------------------------------------------


def test_fresh_flash_reads_erased_and_erase_restores_ff() -> None:
    flash = internal()
    assert flash.read(0, 64) == b"\xff" * 64
    flash.program(PAGE, bytes(range(32)))
    assert flash.read(PAGE, 32) == bytes(range(32))
    flash.erase_page(1)
    assert flash.read(PAGE, PAGE) == b"\xff" * PAGE


def test_qspi_programs_one_to_zero_and_refuses_zero_to_one_leaving_array_unchanged() -> None:
    qspi = QspiFlash(None, WriteCounter())
    qspi.program(0, b"\xf0\xff")
    qspi.program(0, b"\x30\x0f")  # only clears bits
    assert qspi.read(0, 2) == b"\x30\x0f"
    with pytest.raises(FlashError, match="0x1"):
        qspi.program(0, b"\x30\xff")  # byte 1 would need 0 -> 1
    assert qspi.read(0, 2) == b"\x30\x0f"


def test_internal_flash_refuses_programming_a_non_erased_unit() -> None:
    flash = internal()
    flash.program(0, b"\xf0" * UNIT)
    with pytest.raises(FlashError, match="not erased"):
        flash.program(0, b"\x00" * (UNIT - 1) + b"\x10")  # bits only clear, still refused
    assert flash.read(0, UNIT) == b"\xf0" * UNIT
    flash.program(0, b"\xf0" * UNIT)  # identical data: accepted
    flash.program(0, b"\x00" * UNIT)  # all zeros over a programmed unit: as the STM32U5 allows
    assert flash.read(0, UNIT) == b"\x00" * UNIT


def test_internal_flash_refuses_misaligned_programs() -> None:
    flash = internal()
    with pytest.raises(FlashError, match="aligned"):
        flash.program(8, b"\x00" * UNIT)
    with pytest.raises(FlashError, match="aligned"):
        flash.program(0, b"\x00" * 8)
    assert flash.counter.count == 0


def test_bounds_are_checked() -> None:
    flash = internal()
    with pytest.raises(FlashError):
        flash.read(INTERNAL_FLASH_SIZE - 4, 8)
    with pytest.raises(FlashError):
        flash.read(-1, 1)
    with pytest.raises(FlashError):
        flash.program(INTERNAL_FLASH_SIZE, b"\x00" * UNIT)
    with pytest.raises(FlashError):
        flash.erase_page(INTERNAL_FLASH_SIZE // PAGE)
    with pytest.raises(FlashError):
        QspiFlash(None, WriteCounter()).erase_sector(-1)


def test_erase_granularity_is_a_page_or_sector() -> None:
    flash = internal()
    flash.program(0, b"\x00" * (3 * PAGE))
    flash.erase_page(1)
    assert flash.read(0, PAGE) == b"\x00" * PAGE
    assert flash.read(PAGE, PAGE) == b"\xff" * PAGE
    assert flash.read(2 * PAGE, PAGE) == b"\x00" * PAGE
    with pytest.raises(FlashError):
        flash.erase_range(PAGE // 2, PAGE)

    counter = WriteCounter()
    qspi = QspiFlash(None, counter)
    qspi.program_pages(0, b"\x00" * (2 * qspi.block_size))
    writes = counter.count
    qspi.erase_sector(1)
    assert qspi.read(0, 3 * 4096) == b"\x00" * 4096 + b"\xff" * 4096 + b"\x00" * 4096
    qspi.erase_block(0)
    assert qspi.read(0, 2 * 65536) == b"\xff" * 65536 + b"\x00" * 65536
    assert counter.count == writes + 2  # a sector erase and a block erase: one write each


def test_erase_range_counts_one_write_per_page() -> None:
    counter = WriteCounter()
    flash = internal(counter)
    flash.erase_range(0, 3 * PAGE)
    assert counter.count == 3


# -- QSPI part ----------------------------------------------------------------------------------


def test_qspi_identity_and_geometry() -> None:
    qspi = QspiFlash(None, WriteCounter())
    assert qspi.jedec_id == bytes.fromhex("c2853a")
    assert qspi.size == 64 * 1024 * 1024
    assert qspi.sector_size == 4096


def test_qspi_page_program_may_not_cross_a_page_boundary() -> None:
    counter = WriteCounter()
    qspi = QspiFlash(None, counter)
    with pytest.raises(FlashError, match="boundary"):
        qspi.program(250, b"\x00" * 10)
    with pytest.raises(FlashError):
        qspi.program(0, b"\x00" * 257)
    qspi.program(256, b"\x00" * 256)
    qspi.program_pages(1000, b"\x11" * 600)  # split at 1024, 1280, 1536: four programs
    assert qspi.read(1000, 600) == b"\x11" * 600
    assert counter.count == 5


# -- write counting and power cuts --------------------------------------------------------------


def test_power_cut_after_write_n_applies_write_n_then_refuses_everything() -> None:
    counter = WriteCounter(power_cut_after=3)
    qspi = QspiFlash(None, counter)
    qspi.program(0, b"\x01")
    qspi.program(1, b"\x02")
    with pytest.raises(PowerCut, match="after write 3"):
        qspi.program(2, b"\x03")
    assert qspi.read(0, 3) == b"\x01\x02\x03"  # the 3rd write was applied
    with pytest.raises(PowerCut):
        qspi.program(3, b"\x04")
    with pytest.raises(PowerCut):
        qspi.erase_sector(0)
    assert qspi.read(0, 4) == b"\x01\x02\x03\xff"
    assert counter.count == 3


def test_power_cut_during_a_multi_page_erase() -> None:
    counter = WriteCounter()
    flash = internal(counter)
    flash.program(0, b"\x00" * (4 * PAGE))
    counter.power_cut_after = counter.count + 2
    with pytest.raises(PowerCut):
        flash.erase_range(0, 4 * PAGE)
    assert flash.read(0, 2 * PAGE) == b"\xff" * (2 * PAGE)
    assert flash.read(2 * PAGE, 2 * PAGE) == b"\x00" * (2 * PAGE)


def test_one_counter_is_shared_by_internal_flash_and_qspi() -> None:
    with DeviceState.open(None, power_cut_after=2) as device:
        device.internal_flash.program(0, b"\x00" * UNIT)
        with pytest.raises(PowerCut):
            device.qspi.program(0, b"\x00")
        assert device.counter.count == 2


# -- the state directory ------------------------------------------------------------------------


def test_state_persists_across_reopen(tmp_path: Path) -> None:
    root_hash = bytes(range(32))
    with DeviceState.open(tmp_path / "dev") as device:
        uid = device.option_bytes.chip_uid
        assert len(uid) == 12
        device.internal_flash.program(0, b"\x5a" * UNIT)
        device.qspi.program(4096, b"hello")
        device.option_bytes.tzen = True
        device.option_bytes.root_key_hash = root_hash
        device.option_bytes.kernel_ratchet = 3
        device.backup.write(7, 0xDEADBEEF)

    with DeviceState.open(tmp_path / "dev", create=False) as device:
        assert device.option_bytes.chip_uid == uid
        assert device.internal_flash.read(0, UNIT) == b"\x5a" * UNIT
        assert device.qspi.read(4096, 5) == b"hello"
        assert device.option_bytes.tzen is True
        assert device.option_bytes.root_key_hash == root_hash
        assert device.backup.read(7) == 0xDEADBEEF
        assert device.describe()["chip_uid"] == uid.hex()
        device.option_bytes.root_key_hash = root_hash  # the same value again is fine
        with pytest.raises(OtpError):
            device.option_bytes.root_key_hash = bytes(32)
        with pytest.raises(OtpError):
            device.option_bytes.kernel_ratchet = 2
        assert device.option_bytes.root_key_hash == root_hash
        assert device.option_bytes.kernel_ratchet == 3


def test_backup_registers_survive_until_cleared(tmp_path: Path) -> None:
    path = tmp_path / "bkp.bin"
    registers = BackupRegisters(path)
    registers.write(0, 1)
    registers.write(31, 0xFFFFFFFF)
    assert BackupRegisters(path).read(31) == 0xFFFFFFFF
    registers.clear()
    assert [BackupRegisters(path).read(i) for i in range(32)] == [0] * 32


def test_option_bytes_uid_can_be_given_and_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "ob.json"
    OptionBytes.open(path, chip_uid=bytes.fromhex("0102030405060708090a0b0c"))
    assert OptionBytes.open(path).chip_uid.hex() == "0102030405060708090a0b0c"
    assert json.loads(path.read_text())["factory_mode"] is True


def test_a_directory_that_is_not_a_device_is_refused(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(StateError, match="not a device state directory"):
        DeviceState.open(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["precious.txt"]
    with pytest.raises(StateError, match="no device state"):
        DeviceState.open(tmp_path / "missing", create=False)


def test_a_device_in_use_is_refused(tmp_path: Path) -> None:
    with DeviceState.open(tmp_path / "dev"), pytest.raises(StateError, match="in use"):
        DeviceState.open(tmp_path / "dev")


def test_throw_away_device_is_removed_on_close() -> None:
    device = DeviceState.open(None)
    path = device.path
    assert (path / "state.json").exists()
    device.close()
    assert not path.exists()


def test_reloading_the_same_image_costs_no_writes() -> None:
    image = bytes(i * 7 % 251 for i in range(3 * PAGE + 5))
    with DeviceState.open(None) as device:
        first = device.load_app_image(image)
        assert first == 4  # four pages programmed, none needed erasing on a blank device
        view = device.app_flash_view()
        assert len(view) == 1024 * 1024
        assert bytes(view[: len(image)]) == image
        assert bytes(view[len(image) : len(image) + 11]) == b"\xff" * 11
        assert device.internal_flash.read(APP_FLASH_ARRAY_OFFSET, 4) == image[:4]
        view.release()

        count = device.counter.count
        assert device.load_app_image(image) == 0
        assert device.counter.count == count

        changed = bytearray(image)
        changed[PAGE + 3] ^= 0x01
        assert device.load_app_image(bytes(changed)) == 2  # that page: erase + program
        assert device.internal_flash.read(APP_FLASH_ARRAY_OFFSET, len(image)) == bytes(changed)


def test_qspi_backing_file_stays_sparse(tmp_path: Path) -> None:
    with DeviceState.open(tmp_path / "dev") as device:
        device.qspi.program_pages(0, b"\x00" * 8192)
        device.qspi.program_pages(32 * 1024 * 1024, b"\x42" * 4096)
        device.flush()
        qspi_file = tmp_path / "dev" / "qspi.bin"
        assert qspi_file.stat().st_size == 64 * 1024 * 1024
        assert qspi_file.stat().st_blocks * 512 < 1024 * 1024
        assert device.describe()["qspi"]["disk_bytes"] < 1024 * 1024
    with DeviceState.open(tmp_path / "dev") as device:
        assert device.qspi.read(32 * 1024 * 1024, 4096) == b"\x42" * 4096
        assert device.qspi.read(8192, 16) == b"\xff" * 16
