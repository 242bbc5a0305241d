"""Standby and Shutdown: SRAM and peripherals lose power until the RTC wake-up timer or a wake pin."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from .bus import DeviceEvent
from .memory_map import SRAM
from .peripherals import find
from .peripherals.rcc import WAKE_PIN_COUNT, Pwr
from .peripherals.rtc import CR_WUTE, CR_WUTIE, RTC_BASE

if TYPE_CHECKING:
    from .machine import Device

log = logging.getLogger(__name__)

STANDBY, SHUTDOWN = "standby", "shutdown"
RTC_CR = RTC_BASE + 0x18


class LowPower:
    """The STM32U585's two deepest modes, entered when the microvisor asks (mvDeepSleep).

    Entering one parks the CPU, fills SRAM with noise (its contents are lost: the application
    restarts cold) and resets every peripheral except the backup domain: the RTC keeps its
    calendar and wake-up timer, TAMP its backup registers, and PWR its flags. The wake sources
    are those armed at entry: the RTC wake-up timer when RTC_CR has WUTE and WUTIE set, and the
    wake pins WKUPn whose WUPENn bit is set in PWR_WUCR1. When one fires, the device resets
    with the reason "<mode>-rtc" or "<mode>-pin"; after Standby, PWR_SR.SBF and, for a pin,
    PWR_WUSR.WUFn tell the application, as on the chip (Shutdown leaves no flags: it ends like
    a power-on). Virtual time meanwhile jumps from event to event, so an hour costs nothing.
    """

    def __init__(self, device: Device):
        self.device = device
        self.mode: str | None = None
        self._pins = 0
        self._rtc = False
        device.events.subscribe(self._on_event)

    def enter(self, mode: str) -> None:
        """Power the core domain down in `mode` ("standby" or "shutdown")."""
        if mode not in (STANDBY, SHUTDOWN):
            raise ValueError(f"no low-power mode {mode!r}")
        device = self.device
        self._pins = self._pwr().wake_pins_enabled()
        self._rtc = device.bus_read32(RTC_CR) & (CR_WUTE | CR_WUTIE) == CR_WUTE | CR_WUTIE
        self.mode = mode
        device.park(mode)
        device.cpu.write(SRAM.start, os.urandom(SRAM.size))
        for peripheral in device.peripherals:
            peripheral.reset()
        device.events.emit("power", mode, rtc_wakeup=self._rtc,
                           wake_pins=[n + 1 for n in range(WAKE_PIN_COUNT) if self._pins >> n & 1])
        if not self._rtc and not self._pins:
            log.warning("%s entered with no wake source armed: only a reset ends it", mode)

    def wake_pin(self, pin: int) -> None:
        """The active edge on wake pin WKUP`pin` (1..8); called on the emulation thread."""
        if not 1 <= pin <= WAKE_PIN_COUNT:
            raise ValueError(f"no wake pin WKUP{pin} (1..{WAKE_PIN_COUNT})")
        self.device.events.emit("power", "wake-pin", pin=pin)
        if self.mode is not None and self._pins >> (pin - 1) & 1:
            self._wake("pin", 1 << (pin - 1))

    def _on_event(self, event: DeviceEvent) -> None:
        if self.mode is None:
            return
        if event.source == "rtc" and event.kind == "wakeup" and self._rtc:
            self._wake("rtc", 0)
        elif event.source == "power" and event.kind == "reset":
            self._leave()  # any reset (power-on, debugger) also ends the low-power mode

    def _wake(self, source: str, pins: int) -> None:
        mode = self.mode
        if mode == STANDBY:
            self._pwr().standby_exit(pins)
        self._leave()
        self.device.request_reset(f"{mode}-{source}")

    def _leave(self) -> None:
        if self.device.parked == self.mode:
            self.device.unpark()
        self.mode = None

    def _pwr(self) -> Pwr:
        pwr = find(self.device.peripherals, "PWR")
        assert isinstance(pwr, Pwr)
        return pwr
