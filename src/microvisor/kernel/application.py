"""Starting the application: check its manifest's signatures and every layer's measurement, or wait."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from ..common.bundle import Bundle, BundleError
from ..common.mv_abi import MvWakeReason
from ..device.boot_rom import BootRom
from ..device.state import APP_FLASH_ARRAY_OFFSET

if TYPE_CHECKING:
    from ..device.boot_rom import BootReport
    from .microvisor import Microvisor

log = logging.getLogger(__name__)

WAKE_AFTER_UPDATE = {"app": MvWakeReason.APPLICATIONUPDATE, "kernel": MvWakeReason.MICROVISORUPDATE}


class NoApplication(Exception):
    """There is no application the kernel may run; the message says why."""


def verify_installed(kernel: Microvisor, report: BootReport) -> Bundle:
    """The installed application's manifest, checked against the flash; raises NoApplication."""
    state = kernel.device.state
    try:
        bundle = BootRom(state).installed_app()
        if bundle is None:
            raise NoApplication("no application is installed")
        bundle.check_signers(report.kernel.app_signers, report.customer_keys)
        body = bundle.app_body()
    except BundleError as exc:
        raise NoApplication(f"the application's manifest is refused: {exc}") from None
    if not body.layers:
        raise NoApplication("the application's manifest lists no layers")
    flash = state.internal_flash
    for layer in body.layers:
        region = layer.target.internal_flash
        if layer.target.WhichOneof("where") != "internal_flash" or region.size == 0:
            raise NoApplication("the application's manifest targets memory this kernel cannot load")
        measured = hashlib.sha256(flash.read(APP_FLASH_ARRAY_OFFSET + region.start, region.size)).digest()
        if measured != layer.measurement_hash:
            raise NoApplication(f"the application flash at {region.start:#x} does not match its "
                                "measurement hash")
    return bundle


def start(kernel: Microvisor, report: BootReport) -> None:
    """Run the installed application if it verifies; otherwise keep the CPU parked and say why."""
    device = kernel.device
    try:
        bundle = verify_installed(kernel, report)
    except NoApplication as exc:
        kernel.app_body = None
        kernel.app_manifest_hash = None
        kernel.no_application_reason = str(exc)
        log.warning("no application to run: %s", exc)
        device.park(f"no application: {exc}")
        device.events.emit("kernel", "no-application", reason=str(exc))
        return
    kernel.app_body = bundle.app_body()
    kernel.app_manifest_hash = bundle.manifest_hash
    kernel.no_application_reason = None
    kernel.storage.put(app_manifest_hash=bundle.manifest_hash)
    device.unpark()
    if report.applied in WAKE_AFTER_UPDATE:
        kernel.set_boot_wake_reason(WAKE_AFTER_UPDATE[report.applied])
    device.reset("power-on")
    device.events.emit("kernel", "application-started", manifest_hash=bundle.manifest_hash)
