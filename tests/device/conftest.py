"""Device tests: the C test applications of tests/device/apps, built once, run on a fresh device."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from microvisor.device.machine import Device
from microvisor.device.state import DeviceState
from tests import c_apps
from tests.c_apps import Run

APPS = Path(__file__).resolve().parent / "apps"


@pytest.fixture(scope="session")
def device_apps(tmp_path_factory) -> Path:
    """Build tests/device/apps; returns the build directory (<name>/<name>.elf)."""
    return c_apps.build(APPS, tmp_path_factory.mktemp("device_apps"))


@pytest.fixture
def device() -> Iterator[Device]:
    """A fresh device with no application and no kernel, its registers to poke."""
    state = DeviceState.open(None)
    device = Device(state)
    yield device
    device.close()
    state.close()


@pytest.fixture
def device_run() -> Iterator[Callable[..., Run]]:
    """Make a Run of an application on a fresh device (tests/c_apps.py `runs`)."""
    yield from c_apps.runs()
