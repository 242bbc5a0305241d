"""mvGetWakeReason right after every kind of restart, and the last one kept in secure storage."""

from __future__ import annotations

import pytest

from microvisor.common.mv_abi import MvWakeReason

from .lifecycle_app import (
    CRASH,
    IDLE,
    RESTART,
    SHUTDOWN_RTC,
    STANDBY_PIN,
    STANDBY_RTC,
    SYSRESETREQ,
    WATCHDOG,
    LifecycleApp,
    crash_policy,
)

W = MvWakeReason


@pytest.fixture(scope="module")
def elf(examples):
    return examples / "lifecycle" / "lifecycle.elf"


@pytest.mark.parametrize(("scenario", "argument", "seconds", "second_wake"), [
    (RESTART, 0, 0.5, W.REMOTEAPPLICATIONRESTART),
    (SYSRESETREQ, 0, 0.5, W.REMOTEAPPLICATIONRESTART),
    (CRASH, 0, 0.5, W.APPLICATIONCRASH),
    (WATCHDOG, 0, 0.6, W.APPLICATIONCRASH),
    (STANDBY_RTC, 30, 40.0, W.DEEPSLEEPAPPLICATIONRTC),
    (SHUTDOWN_RTC, 30, 40.0, W.COLDBOOT),
])
def test_wake_reason_after_each_kind_of_restart(elf, scenario, argument, seconds, second_wake):
    policy = crash_policy(minimum_restart_ms=100)
    with LifecycleApp(elf, scenario, argument, app_body=policy) as app:
        app.run(seconds)
        boots = app.boots()
        stored = app.kernel.storage.get("last_wake_reason")
    assert [b.wake for b in boots[:2]] == [W.COLDBOOT, second_wake]
    assert stored == boots[-1].wake.name


def test_wake_pin(elf):
    with LifecycleApp(elf, STANDBY_PIN) as app:
        app.run(1.0)
        app.device.assert_wake_pin(1)
        app.run(1.0)
        assert [b.wake for b in app.boots()] == [W.COLDBOOT, W.DEEPSLEEPAPPLICATION]
        assert app.kernel.storage.get("last_wake_reason") == "DEEPSLEEPAPPLICATION"


def test_update_then_debugger_restart(elf):
    with LifecycleApp(elf, IDLE) as app:
        app.run(0.1)
        app.kernel.set_boot_wake_reason(W.APPLICATIONUPDATE)
        app.device.reset("power-on")  # as the boot path does once an update is applied
        app.run(0.1)
        assert app.kernel.storage.get("last_wake_reason") == "APPLICATIONUPDATE"
        app.device.reset("debugger")  # the boot reason is spent: the next reset says its own
        app.run(0.1)
        app.device.reset("power-on")
        app.run(0.1)
        assert [b.wake for b in app.boots()] == [W.COLDBOOT, W.APPLICATIONUPDATE,
                                                 W.DEBUGGERRESTART, W.COLDBOOT]


def test_a_reset_from_outside_overtakes_a_scheduled_restart(elf):
    with LifecycleApp(elf, CRASH, app_body=crash_policy(minimum_restart_ms=10_000)) as app:
        app.run(1.0)
        assert app.device.parked == app.kernel.BACKOFF
        app.device.reset("power-on")
        assert app.device.parked is None  # the kernel let go of its back-off
        app.run(15.0)
        boots = app.boots()
    # Cold boot, crash; the power-on restarts it at once (and it crashes again); the restart
    # scheduled for 10 s after the first crash never happens.
    assert [b.wake for b in boots[:3]] == [W.COLDBOOT, W.COLDBOOT, W.APPLICATIONCRASH]
    assert boots[1].time_s == pytest.approx(1.0, abs=0.01)
    assert boots[2].time_s == pytest.approx(11.0, abs=0.05)
