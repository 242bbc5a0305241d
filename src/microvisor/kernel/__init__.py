"""The microvisor kernel: loaded by the boot ROM from verified flash; `boot` is its entry point."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .microvisor import Microvisor


def boot(device: Any, report: Any) -> Microvisor:
    """Take over the device the ROM hands us: install the system calls, start the application."""
    from . import application
    from .microvisor import Microvisor

    kernel = Microvisor(device)
    kernel.kernel_version = report.kernel.describe()
    application.start(kernel, report)
    return kernel
