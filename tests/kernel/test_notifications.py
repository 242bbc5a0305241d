"""Notification centres and system notifications, driven by a C application on the device."""

from __future__ import annotations

import re

from microvisor.common.mv_abi import MvEventType, MvSystemNotificationSource
from microvisor.device.machine import Device
from microvisor.device.state import DeviceState
from microvisor.kernel.microvisor import Microvisor


def test_notification_calls_behave_as_published(kernel_apps, device_run):
    told: list[int] = []

    def on_line(run, text: str) -> None:
        if text == "notify: update":  # what the FOTA client will do when an update is in
            told.append(run.kernel.system_notifications.notify(MvSystemNotificationSource.UPDATE))

    run = device_run(kernel_apps / "notifications" / "notifications.elf", on_line=on_line)
    run.run()
    assert run.failures() == []
    assert re.fullmatch(r"DONE pass=\d+ fail=0", run.lines[-1])
    assert {"setup", "setup/too-many", "setup/irq-fast-refused", "trigger/irq", "trigger/wraps",
            "system/update-delivered", "system/open-from-irq", "close", "close/no-more-irqs",
            "setup/after-close", "fast/notification-irq-refused"} <= run.passed()
    assert told == [1]
    posted = run.of("kernel", "notification")
    assert [(e.data["event_type"], e.data["tag"]) for e in posted] == [
        (MvEventType.CHANNELDATAREADABLE, 0x1234), *[(MvEventType.NETWORKSTATUSCHANGED, t)
                                                     for t in range(1, 5)],
        (MvEventType.UPDATEDOWNLOADED, 0xABCD)]
    assert {e.data["irq"] for e in posted} == {51}


def test_posting_to_no_centre_delivers_nothing():
    state = DeviceState.open(None)
    device = Device(state)
    kernel = Microvisor(device)
    try:
        assert kernel.notifications.post(0, MvEventType.NETWORKSTATUSCHANGED, 1) is False
        assert kernel.notifications.post(0x1234_5678, MvEventType.NETWORKSTATUSCHANGED, 1) is False
        assert kernel.system_notifications.notify(MvSystemNotificationSource.NETWORK) == 0
        assert not device.nvic.pending[16:].count(True)
    finally:
        device.close()
        state.close()
