"""The application's QSPI partition through mvExternalFlash*, checked in the flash itself."""

from __future__ import annotations

import re

from microvisor.device.flash_layout import APP_PARTITION, STAGING
from microvisor.device.qspi import QSPI_SIZE


def test_external_flash_calls_behave_as_published(kernel_apps, device_run):
    run = device_run(kernel_apps / "external_flash" / "external_flash.elf")
    qspi = run.device.state.qspi
    staging_before = qspi.read(STAGING.end - 4096, 4096)
    writes_before = qspi.counter.count
    run.run()
    assert run.failures() == []
    assert re.fullmatch(r"DONE pass=\d+ fail=0", run.lines[-1])
    assert {"open", "open/from-irq", "info", "erase", "erase/wrapping", "write", "read",
            "write/nor-and", "read/after-erase", "open/too-many", "close"} <= run.passed()
    # What the application wrote is in the QSPI, at its partition's offset; the staging area
    # in front of it is untouched.
    assert qspi.read(APP_PARTITION.offset + 0x10000, 18) == b"persistent marker\0"
    assert qspi.read(QSPI_SIZE - 1, 1) == b"\x01"  # the partition's last byte
    assert qspi.read(APP_PARTITION.offset, 4096) == b"\xff" * 4096
    assert qspi.read(STAGING.end - 4096, 4096) == staging_before
    # Every erase and page program went through the counted flash.
    assert qspi.counter.count - writes_before >= 10
