"""The IWDG watchdog: a stuck application is reported and restarted; others are left alone."""

from __future__ import annotations

import pytest

from microvisor.common import crash_report
from microvisor.common.mv_abi import MvWakeReason
from microvisor.device.peripherals.iwdg import IWDG_BASE, KR, PR, RLR, SR, SR_ONF, WINR

from .lifecycle_app import IDLE, WATCHDOG, LifecycleApp, crash_policy


@pytest.fixture(scope="module")
def elf(examples):
    return examples / "lifecycle" / "lifecycle.elf"


def iwdg(app: LifecycleApp, offset: int, value: int | None = None) -> int:
    if value is not None:
        app.device.bus_write32(IWDG_BASE + offset, value)
    return app.device.bus_read32(IWDG_BASE + offset)


def test_a_stuck_application_is_reset_by_its_watchdog(elf):
    with LifecycleApp(elf, WATCHDOG, app_body=crash_policy(minimum_restart_ms=500)) as app:
        app.run(1.0)
        hanging = [e for e in app.of("log", "line") if "hanging" in e.data["text"]]
        expired = app.of("watchdog", "expired")
        reports = app.kernel.storage.crash_reports()
        boots = app.boots()

    # Five refreshes 50 ms apart kept it alive; 100 ms after it stopped refreshing, it expired.
    assert len(expired) >= 1 and (expired[0].time_ns - hanging[0].time_ns) / 1e6 == pytest.approx(
        100, abs=5)
    assert [b.wake for b in boots][:2] == [MvWakeReason.COLDBOOT, MvWakeReason.APPLICATIONCRASH]
    # The back-off is exact; the restarted app's first line then costs some virtual time, which
    # follows the wall clock while code runs (more of it on a loaded machine).
    assert 500 <= boots[1].time_s * 1000 - expired[0].time_ns / 1e6 < 600
    document = crash_report.decode(reports[0])
    assert document["kind"] == "watchdog" and document["fault"] == "Watchdog"
    assert "not refreshed for 100 ms" in document["detail"]
    assert document["registers"]["primask"] == 1  # it hung with interrupts masked


def test_an_application_that_never_starts_the_watchdog_is_never_reset(elf):
    with LifecycleApp(elf, IDLE) as app:
        app.run(600.0)
        assert len(app.boots()) == 1
        assert app.kernel.storage.crash_reports() == []
        assert iwdg(app, SR) & SR_ONF == 0


def test_registers_are_protected_and_new_values_apply_at_the_next_refresh(elf):
    with LifecycleApp(elf, IDLE, stop_on_crash=True) as app:
        app.run(0.01)
        iwdg(app, PR, 3)
        assert iwdg(app, PR) == 0  # locked until the 0x5555 key
        iwdg(app, KR, 0x5555)
        iwdg(app, PR, 1)  # LSI / 8
        iwdg(app, RLR, 399)  # 400 ticks: 100 ms
        iwdg(app, KR, 0xCCCC)  # start: the new values apply from this first load
        assert iwdg(app, SR) & SR_ONF
        started = app.device.clock.now_ns()
        result = app.run(1.0)
    assert result.reason == "crash" and result.crash is not None
    assert result.crash.fault == "Watchdog" and result.crash.causes == ["IWDG"]
    assert (result.time_ns - started) / 1e6 == pytest.approx(100, abs=1)


def test_a_refresh_before_the_window_opens_resets_at_once(elf):
    with LifecycleApp(elf, IDLE, stop_on_crash=True) as app:
        app.run(0.01)
        iwdg(app, KR, 0x5555)
        iwdg(app, RLR, 799)
        iwdg(app, WINR, 100)  # refreshes are allowed only once the counter is below 100
        iwdg(app, KR, 0xCCCC)
        iwdg(app, KR, 0xAAAA)  # far too early
        result = app.run(1.0)
        document = crash_report.decode(app.kernel.storage.crash_reports()[0])
    assert result.reason == "crash" and result.crash is not None
    assert "before the window" in result.crash.detail
    assert document["kind"] == "watchdog"
