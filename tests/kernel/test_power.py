"""mvDeepSleep and mvPowerSave, played by the `lifecycle` example on the real kernel."""

from __future__ import annotations

import re
import time

import pytest

from microvisor.common.mv_abi import MvStatus, MvWakeReason
from microvisor.device.peripherals.gpio import GPIOA_BASE, ODR

from .lifecycle_app import (
    BAD_MODES,
    POWER_SAVE,
    SHUTDOWN_RTC,
    STANDBY_PIN,
    STANDBY_RTC,
    LifecycleApp,
)

HOUR = 3600


@pytest.fixture(scope="module")
def elf(examples):
    return examples / "lifecycle" / "lifecycle.elf"


def test_an_hour_of_standby_takes_no_wall_time_and_the_application_restarts_cold(elf):
    with LifecycleApp(elf, STANDBY_RTC, argument=HOUR) as app:
        app.device.bus_write32(GPIOA_BASE + ODR, 0x20)  # a peripheral's state, lost in Standby
        app.run(1.0)
        assert app.device.parked == "standby"
        assert app.device.bus_read32(GPIOA_BASE + ODR) == 0
        started = time.perf_counter()
        result = app.run(HOUR)
        wall = time.perf_counter() - started
        boots = app.boots()
        assert app.kernel.storage.get("last_wake_reason") == "DEEPSLEEPAPPLICATIONRTC"

    assert result.reason == "timeout"
    assert wall < 1.0, f"an hour of deep sleep took {wall:.2f} s of wall time"
    assert [b.wake for b in boots] == [MvWakeReason.COLDBOOT, MvWakeReason.DEEPSLEEPAPPLICATIONRTC]
    woke = boots[1]
    assert woke.time_s == pytest.approx(HOUR, abs=0.05)
    assert (woke.number, woke.ram, woke.sbf, woke.wuf) == (2, "lost", 1, 0)
    assert not any("still awake" in line for line in app.lines())


def test_a_wake_pin_ends_standby_only_when_armed(elf):
    with LifecycleApp(elf, STANDBY_PIN) as app:
        app.run(10.0)
        assert app.device.parked == "standby" and len(app.boots()) == 1
        app.device.assert_wake_pin(2)  # not enabled in PWR_WUCR1: no effect
        app.run(1.0)
        assert len(app.boots()) == 1
        app.device.assert_wake_pin(1)
        app.run(1.0)
        boots = app.boots()
    assert [b.wake for b in boots] == [MvWakeReason.COLDBOOT, MvWakeReason.DEEPSLEEPAPPLICATION]
    assert (boots[1].ram, boots[1].sbf, boots[1].wuf) == ("lost", 1, 0b1)
    assert [e.data["pin"] for e in app.of("power", "wake-pin")] == [2, 1]


def test_waking_from_shutdown_is_a_cold_boot(elf):
    with LifecycleApp(elf, SHUTDOWN_RTC, argument=60) as app:
        app.run(100.0)
        boots = app.boots()
    assert [b.wake for b in boots] == [MvWakeReason.COLDBOOT, MvWakeReason.COLDBOOT]
    assert boots[1].time_s == pytest.approx(60, abs=0.05)
    assert (boots[1].ram, boots[1].sbf) == ("lost", 0)
    assert [e.data["mode"] for e in app.of("kernel", "deep-sleep")] == ["SHUTDOWN", "SHUTDOWN"]


def test_power_save_sleeps_until_an_interrupt_and_returns(elf):
    with LifecycleApp(elf, POWER_SAVE) as app:
        app.run(3.0)
        line = next(text for text in app.lines() if "power save" in text)
        assert [e.data["mode"] for e in app.of("kernel", "power-save")] == ["STOP2"]
    status, slept_ms, irqs, irq_status = map(int, re.findall(r"\d+", line))
    assert status == MvStatus.OKAY and irqs >= 1
    assert 995 <= slept_ms <= 1010  # the RTC wake-up timer's one second
    assert irq_status == MvStatus.UNAVAILABLE  # mvGetWakeReason from an interrupt handler


def test_unknown_modes_are_parameter_faults(elf):
    with LifecycleApp(elf, BAD_MODES) as app:
        app.run(0.5)
        line = next(text for text in app.lines() if "bad modes" in text)
        assert len(app.boots()) == 1
    assert re.findall(r"\d+", line) == [str(int(MvStatus.PARAMETERFAULT))] * 3
