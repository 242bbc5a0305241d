"""A chip on the factory line, power-on after power-on: debug port, SFI loader, then what the ROM verified.

`make_blank` makes the chip as its maker ships it: a random 96-bit UID, the chip key derived from
the platform's SFI master (factory_protocol.chip_key) as its hardware secret, the platform's
root-key hash in OTP, TrustZone off, debug port open, empty flash, and the board around it
(radio, QSPI fault). `FactoryChip.run` then powers it on again and again, as the station drives it:

- open (factory mode, debug not locked): the ROM serves the debug port until a programmer asks
  for a reset or starts the SFI (which locks the port for good);
- locked, no verified code in secure flash: the ROM's SFI loader (device/sfi_loader.py);
- the test program: steps 5 to 8;
- the kernel: steps 9 and 10 in factory mode (the test bundle runs), then the fielded device.

Everything the station must see goes out on the provisioning UART as one JSON object per line;
a chip that cannot go on waits there for the station's `{"command": "reset"}` (its fixture's
reset line), as after a power cut.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from ..common import factory_protocol
from .boot_rom import BootError, BootRom
from .bus import DeviceEvent
from .debug_port import DebugPort, listen
from .flash import FlashError, PowerCut
from .provisioning_uart import ProvisioningUart, ResetRequested, UartClosed, close_listener
from .sfi_loader import SfiError, install
from .state import BOARD_FILE, Board, DeviceState

log = logging.getLogger(__name__)

FORWARDED = {("kernel", "testing-complete"), ("kernel", "factory-failed"), ("kernel", "no-application"),
             ("log", "test"), ("log", "line"), ("uart", "line")}


def make_blank(path: Path, root_key_hash: bytes, sfi_master: bytes, board: Board | None = None,
               chip_uid: bytes | None = None) -> bytes:
    """Make a blank chip in a new folder; returns its UID."""
    uid = chip_uid or os.urandom(factory_protocol.CHIP_UID_SIZE)
    with DeviceState.open(path, create=True, chip_uid=uid,
                          hardware_key=factory_protocol.chip_key(sfi_master, uid)) as state:
        state.option_bytes.root_key_hash = root_key_hash
        (board or Board()).save(Path(path) / BOARD_FILE)
    return uid


class FactoryChip:
    """Runs the chip in `path` until `stop()`; the ports stay the same across its power-ons."""

    def __init__(self, path: Path, debug_port: int, uart_port: int, paced: bool = True,
                 power_cut_after: int | None = None):
        self.path = Path(path)
        self._debug_listener = listen(debug_port)
        self.debug_port = self._debug_listener.getsockname()[1]
        self.uart = ProvisioningUart(uart_port)
        self.paced = paced
        self._stopping = threading.Event()
        self._debug: DebugPort | None = None
        self._device: Any = None
        self._reset_id: str | None = None  # the station's name for the reset that started this power-on
        self.power_ons = 0
        self.power_cut_after = power_cut_after  # the Nth flash write of this run, across power-ons, cuts
        self.writes = 0  # flash writes of this run so far
        self.writes_per_power_on: list[int] = []

    def stop(self) -> None:
        """Power off: whatever runs or waits on the chip ends, and `run` returns."""
        self._stopping.set()
        self.uart.close()
        if self._debug is not None:
            self._debug.close()
        if self._device is not None:
            self._device.stop("interrupted")

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                left = None if self.power_cut_after is None else self.power_cut_after - self.writes
                with DeviceState.open(self.path, create=False, power_cut_after=left) as state:
                    try:
                        outcome = self._power_on(state)
                    except ResetRequested as reset:
                        outcome, self._reset_id = "reset", reset.reset_id
                    finally:
                        self.writes += state.counter.count
                        self.writes_per_power_on.append(state.counter.count)
                if outcome == "wait":
                    self._wait_for_reset()
        finally:
            self.uart.close()
            close_listener(self._debug_listener)

    def _wait_for_reset(self) -> None:
        while not self._stopping.is_set():
            try:
                self.uart.receive(0.2)  # anything but a reset is not for a halted chip
            except UartClosed:
                if self._stopping.is_set():
                    return
            except ResetRequested as reset:
                self._reset_id = reset.reset_id
                return

    def _power_on(self, state: DeviceState) -> str:
        ob = state.option_bytes
        uid = ob.chip_uid.hex()
        self.power_ons += 1
        stage = "open" if ob.factory_mode and not ob.debug_locked else "factory" if ob.factory_mode \
            else "fielded"
        self.uart.send({"event": "power-on", "chip_uid": uid, "stage": stage, "reset_id": self._reset_id,
                        "power_on": self.power_ons})
        self._reset_id = None
        if stage != "open":
            close_listener(self._debug_listener)  # locked for good: the port refuses connections
        else:
            self._debug = DebugPort(state, self._debug_listener)
            action = self._debug.wait()
            self._debug = None
            if action == "power-cut":
                raise PowerCut("the power was cut during a flash write through the debug port")
            return "reset" if action in ("reset", "sfi-start") else "stop"
        try:
            package, report = BootRom(state).boot()
        except BootError as exc:
            if not ob.factory_mode:
                self.uart.send({"event": "no-boot", "reason": str(exc)})
                return "wait"
            try:
                install(state, self.uart)
            except SfiError as refused:
                log.warning("SFI refused: %s", refused)
            return "reset"
        if getattr(package, "TEST_PROGRAM", False):
            return "reset" if package.run(state, report, self.uart) == "reboot" else "wait"
        return self._run_kernel(state, package, report)

    def _run_kernel(self, state: DeviceState, package: Any, report: Any) -> str:
        from .machine import Device

        was_factory = state.option_bytes.factory_mode
        device = Device(state)
        try:
            kernel = package.boot(device, report)
        except (FlashError, BootError) as exc:
            device.close()
            self.uart.send({"event": "no-boot", "reason": str(exc)})
            return "wait"
        self._device = device
        if self._stopping.is_set():  # stopped while it booted
            device.stop("interrupted")
        try:
            if was_factory and not state.option_bytes.factory_mode:
                self.uart.send({"event": "factory-complete", "passed": True, "step": 10,
                                "app": kernel.app_manifest_hash})
            elif was_factory:
                self.uart.send({"event": "microvisor-started", "step": 9,
                                "kernel": report.kernel.describe()["version_string"]})
            device.events.subscribe(self._forward)
            device.paced, device.awaits_input = self.paced, True
            running = threading.Event()
            running.set()
            watcher = threading.Thread(target=self._watch_reset, args=(device, running), daemon=True)
            watcher.start()
            try:
                result = device.run()
            finally:
                running.clear()
                watcher.join()
        finally:
            self._device = None
            kernel.close()
            device.close()
        if result.reason in ("reboot", "reset"):
            return "reset"
        return "stop" if self._stopping.is_set() else "wait"

    def _watch_reset(self, device: Any, running: threading.Event) -> None:
        """The reset line works while the kernel runs too."""
        while running.is_set() and not self._stopping.is_set():
            try:
                self.uart.receive(0.2)
            except UartClosed:
                continue  # nothing came (a closed UART raises at once only when stopping)
            except ResetRequested as reset:
                self._reset_id = reset.reset_id
                device.stop("reset")
                return

    def _forward(self, event: DeviceEvent) -> None:
        if (event.source, event.kind) in FORWARDED:
            data = {k: v for k, v in event.data.items() if isinstance(v, str | int | bool | None)}
            self.uart.send({"event": f"{event.source}-{event.kind}", "time_ns": event.time_ns, **data})
