"""Kernel tests: build the C test applications once and run them on a virtual device."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import c_apps
from tests.c_apps import Run

APPS = Path(__file__).resolve().parent / "apps"


@pytest.fixture(scope="session")
def kernel_apps(tmp_path_factory) -> Path:
    """Build tests/kernel/apps; returns the build directory (<name>/<name>.elf)."""
    return c_apps.build(APPS, tmp_path_factory.mktemp("kernel_apps"))


@pytest.fixture
def device_run() -> Iterator[Callable[..., Run]]:
    """Make a Run of an application on a fresh device (tests/c_apps.py `runs`)."""
    yield from c_apps.runs()
