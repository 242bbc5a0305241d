"""A power cut at any flash write of the ten steps: run through the station again, the chip comes
out whole, and never says it passed when it is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from microvisor.common import spi_image
from microvisor.common.bundle import Bundle
from microvisor.common.platform import Platform
from microvisor.device.boot_rom import BootRom
from microvisor.device.identity import read_identity
from microvisor.device.state import DeviceState
from microvisor.factory.debug_probe import ProbeError
from microvisor.factory.uart_link import UartLinkError

from .chip_harness import Card, Line, image, station_answers

STEP_2_SAMPLES = 4  # cut points among the QSPI writes of step 2 (the image, page by page)
STRIDE = 1  # and every flash write after it, through step 10 and the application's first moments


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Platform:
    return Platform.init(tmp_path_factory.mktemp("cuts") / "platform")


@pytest.fixture(scope="module")
def spi(platform: Platform, examples: Path) -> bytes:
    return image(platform, examples)


def station_run(line: Line, spi: bytes, platform: Platform) -> str:
    """What a station does with a chip: program it if it is open, answer it until it passes."""
    stage = line.until("power-on")["stage"]
    if stage == "fielded":
        return "already"
    if stage == "open":
        line.program(spi)
    line.until("factory-complete", station_answers(Card(platform), platform))
    return "passed"


def assert_whole(folder: Path, spi: bytes) -> None:
    reader = spi_image.file_reader(spi)
    app = Bundle.from_bytes(spi_image.read_part(reader, spi_image.read(reader, None), "app-bundle"))
    with DeviceState.open(folder, create=False) as state:
        ob = state.option_bytes
        assert (ob.factory_mode, ob.tzen, ob.debug_locked) == (False, True, True)
        assert BootRom(state).installed_app().manifest_hash == app.manifest_hash
        assert BootRom(state).verify_installed_kernel().body.meta.version_string != "test-program 0.1.0"
        assert read_identity(state).certificate_pem


def test_a_power_cut_at_any_flash_write_leaves_a_chip_the_station_finishes(tmp_path, platform, spi):
    whole = Line(tmp_path / "whole", platform)
    assert station_run(whole, spi, platform) == "passed"
    whole.stop()
    total, step_2 = whole.chip.writes, whole.chip.writes_per_power_on[0]
    assert step_2 > 100 and total > step_2 + 20
    assert_whole(tmp_path / "whole", spi)
    cuts = [1 + (step_2 - 1) * i // STEP_2_SAMPLES for i in range(STEP_2_SAMPLES)]
    for n in [*cuts, *range(step_2 + 1, total + 1, STRIDE)]:
        folder = tmp_path / f"cut-{n}"
        cut = Line(folder, platform, power_cut_after=n)
        try:
            station_run(cut, spi, platform)
            passed_anyway = True
        except (ProbeError, UartLinkError):  # the chip died under the station
            passed_anyway = False
        cut.stop()
        assert cut.power_cut is not None or passed_anyway, n  # it died, or it had passed before the cut
        again = Line(folder, platform)  # powered on again, and through the station again
        assert station_run(again, spi, platform) in ("passed", "already"), n
        again.stop()
        assert_whole(folder, spi)
