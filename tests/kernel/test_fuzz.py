"""Random calls to every entry point with hostile arguments: no handler raises, every status is valid."""

from __future__ import annotations

from collections import Counter

import pytest

from microvisor.common.mv_abi import MvStatus

BUDGET = 20_000
STATUSES = {int(s) for s in MvStatus}


@pytest.mark.parametrize("seed", [1, 20240607, 0xC0FFEE])
def test_fuzzing_every_entry_point(kernel_apps, device_run, seed):
    run = device_run(kernel_apps / "fuzz" / "fuzz.elf", until="fuzz: DONE", factory_mode=False,
                     backup={0: seed, 1: BUDGET})
    table = run.device.syscalls
    dispatch = table.dispatch
    seen: Counter[tuple[str, int]] = Counter()
    raised: list[tuple[str, BaseException]] = []

    def watched(device, address: int) -> int:
        name = table.specs[address].name
        try:
            status = dispatch(device, address)
        except Exception as exc:
            raised.append((name, exc))
            raise
        seen[name, status] += 1
        return status

    table.dispatch = watched  # inspect every call the application makes
    result = run.run(timeout_s=30)

    assert raised == []
    assert result.reason == "until", (result, run.lines[-3:])
    assert run.lines[-1] == f"fuzz: DONE calls={BUDGET} unknown=0"
    backup = run.device.state.backup
    assert (backup.read(2), backup.read(3)) == (BUDGET, 0)
    assert {status for _, status in seen} <= STATUSES
    called = {name for name, _ in seen}
    assert len(called) >= 60  # nearly every one of the 69 fuzzed entry points was reached
    assert {"mvRestart", "mvDeepSleep", "mvPowerSave"}.isdisjoint(called)
    assert sum(seen.values()) >= BUDGET
    # Every family without a network was also driven past its checks into doing its work.
    for name in ("mvSetupNotifications", "mvTempTriggerNotification", "mvCloseNotifications",
                 "mvOpenSystemNotification", "mvExternalFlashOpen", "mvExternalFlashReadBlocking",
                 "mvExternalFlashWriteBlocking", "mvPeriphPeek32", "mvPeriphPoke32",
                 "mvSetFastInterrupt", "mvEnableFastInterrupt", "mvSystemLedEnable", "mvServerLog"):
        assert seen[name, MvStatus.OKAY], name
