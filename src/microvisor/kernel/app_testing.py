"""Application testing in the factory: mvTestingComplete, mvTestLoggingInit and mvTestLog; steps 9 and 10."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..common import spi_image
from ..common.bundle import Bundle, BundleError
from ..common.mv_abi import MvStatus
from ..device.boot_rom import BootRom
from ..device.flash import FlashError
from ..device.flash_layout import FACTORY_IMAGE
from ..device.nsc import CallContext
from ..device.sfi_loader import qspi_reader, read_image
from ..device.staging import KIND_APP, Staging, StagingError
from .server_logging import check_log_buffer, read_message

if TYPE_CHECKING:
    from .microvisor import Microvisor

log = logging.getLogger(__name__)
FACTORY_APP = "factory_app"  # kernel fact: the manifest hash of the application the factory is installing


def install(kernel: Microvisor) -> AppTesting:
    """Register this family's handlers with the kernel's device."""
    testing = AppTesting(kernel)
    for name in ("mvTestingComplete", "mvTestLoggingInit", "mvTestLog"):
        kernel.device.syscalls.register(name, getattr(testing, name))
    return testing


class AppTesting:
    """Only a device in factory mode runs application testing code; elsewhere these are UNAVAILABLE.

    mvTestingComplete stops the testing code (the CPU is parked until the next reset, when it
    runs again) and reports the result as a ("kernel", "testing-complete", result=...) event; 0
    means success, any other value failure. Test log lines are ("log", "test", text=...) events:
    they go to the provisioning console, not to the server.

    On a chip the factory is making (an SPI image in QSPI), success stages the image's application
    and restarts: the ROM applies it over the test code, and the next boot, finding that very
    application installed, erases the image and ends factory mode. Failure uninstalls the test
    code and stays in factory mode: the chip has no application and does not pass.
    """

    PARKED = "application testing complete"

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self.result: int | None = None  # the last mvTestingComplete status
        self._finish_factory()
        self.application_started()

    @property
    def testing_mode(self) -> bool:
        return self.kernel.device.state.option_bytes.factory_mode

    def application_started(self) -> None:
        self.log_buffer: tuple[int, int] | None = None
        if self.kernel.device.parked == self.PARKED:
            self.kernel.device.unpark()

    def mvTestingComplete(self, ctx: CallContext) -> int:
        status = ctx.arg(0)
        if not self.testing_mode:
            return MvStatus.UNAVAILABLE
        self.result = status
        ctx.device.events.emit("kernel", "testing-complete", result=status, passed=status == 0)
        ctx.device.park(self.PARKED)
        image = self._factory_image()
        if image is not None:
            self._install_application(image) if status == 0 else self._uninstall(f"test result {status}")
        return MvStatus.OKAY

    # --- steps 9 and 10 on a chip the factory is making ------------------------------------------
    def _factory_image(self) -> spi_image.SpiImage | None:
        try:
            return read_image(self.kernel.device.state)
        except spi_image.SpiImageError:
            return None

    def _install_application(self, image: spi_image.SpiImage) -> None:
        state = self.kernel.device.state
        try:
            data = spi_image.read_part(qspi_reader(state), image, "app-bundle")
            manifest_hash = Bundle.from_bytes(data).manifest_hash
            # First the fact, then the staging: cut between them, the test code runs again; the other
            # way round, the ROM would apply the application and no boot would know to end factory mode.
            self.kernel.storage.put(**{FACTORY_APP: manifest_hash})
            Staging(state).write(KIND_APP, data)
        except (spi_image.SpiImageError, BundleError, StagingError, FlashError) as exc:
            self._uninstall(f"the application cannot be installed: {exc}")
            return
        self.kernel.reboot("factory: installing the application")

    def _uninstall(self, why: str) -> None:
        BootRom(self.kernel.device.state).app_record.clear()
        log.warning("factory test failed (%s): the application is not installed", why)
        self.kernel.device.events.emit("kernel", "factory-failed", reason=why)

    def _finish_factory(self) -> None:
        """At boot: the factory's application installed over the test code ends factory mode."""
        state = self.kernel.device.state
        expected = self.kernel.storage.get(FACTORY_APP)
        if not self.testing_mode or expected is None:
            return
        try:
            installed = BootRom(state).installed_app()
        except BundleError:
            installed = None
        if installed is None or installed.manifest_hash != expected:
            return  # not applied (yet): the ROM keeps it staged or reported why it discarded it
        state.qspi.erase_dirty(FACTORY_IMAGE.offset, FACTORY_IMAGE.size)
        state.option_bytes.factory_mode = False
        self.kernel.storage.put(**{FACTORY_APP: None})
        log.info("factory: application %s installed; factory mode ends", expected[:12])

    def mvTestLoggingInit(self, ctx: CallContext) -> int:
        buffer, length = ctx.arg(0), ctx.arg(1)
        if not self.testing_mode:
            return MvStatus.UNAVAILABLE
        status = check_log_buffer(buffer, length)
        if status == MvStatus.OKAY:
            self.log_buffer = (buffer, length)
        return status

    def mvTestLog(self, ctx: CallContext) -> int:
        message, length = ctx.arg(0), ctx.arg(1) & 0xFFFF  # uint16_t length_bytes
        if self.log_buffer is None or not self.testing_mode:
            return MvStatus.UNAVAILABLE
        status, text = read_message(ctx, message, length)
        if status == MvStatus.OKAY:
            ctx.device.events.emit("log", "test", text=text)
        return status
