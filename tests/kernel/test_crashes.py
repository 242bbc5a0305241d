"""Crash reports and restarts with back-off, played by the `lifecycle` example on the real kernel."""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from microvisor.common import crash_report
from microvisor.common.mv_abi import MvWakeReason
from microvisor.device.memory_map import SRAM
from microvisor.kernel.crashes import CrashPolicy

from .lifecycle_app import CRASH, CRASH_LATER, LifecycleApp, crash_policy

PATTERN = b"".join(struct.pack("<I", 0x5AFE0000 + i) for i in range(64))


@pytest.fixture(scope="module")
def elf(examples):
    return examples / "lifecycle" / "lifecycle.elf"


def restart_delays(app: LifecycleApp) -> list[int]:
    return [e.data["after_ms"] for e in app.of("kernel", "restart")]


def test_crash_is_reported_with_stack_bytes_and_restarted_after_a_growing_backoff(elf):
    policy = crash_policy(minimum_restart_ms=100, maximum_restart_ms=1000, include_stack_bytes=256)
    with LifecycleApp(elf, CRASH, app_body=policy) as app:
        result = app.run(3.0)
        assert result.reason == "timeout"  # the kernel carried on through every crash
        boots = app.boots()
        crashes = app.of("fault", "crash")
        reports = app.kernel.storage.crash_reports()

    assert [b.wake for b in boots] == [MvWakeReason.COLDBOOT] + [MvWakeReason.APPLICATIONCRASH] * (
        len(boots) - 1)
    assert len(boots) >= 6
    assert restart_delays(app)[:6] == [100, 200, 400, 800, 1000, 1000]
    # Each restart comes after its back-off of virtual time, counted from the crash.
    for crash, boot, delay in zip(crashes, boots[1:], restart_delays(app), strict=False):
        waited_ms = boot.time_s * 1000 - crash.time_ns / 1e6
        assert delay <= waited_ms < delay + 20
    assert len(reports) == len(crashes)

    document = crash_report.decode(reports[0])
    assert document["kind"] == "fault" and document["fault"] == "SecureFault"
    assert document["address"] == 0x0C00_0000 and "AUVIOL" in document["causes"]
    assert document["pc"] == crashes[0].data["record"].pc
    assert document["fault_status"]["cfsr"] == crashes[0].data["record"].cfsr
    assert set(document["fault_status"]) == {"cfsr", "hfsr", "mmfar", "bfar"}
    assert {"r0", "r12", "sp", "lr", "pc", "xpsr", "psp", "msp"} <= set(document["registers"])
    assert document["restart"] == {"consecutive": 1, "after_ms": 100}
    stack = crash_report.stack_bytes(document)
    assert len(stack) == 256 and document["stack"]["address"] == document["registers"]["sp"]
    assert PATTERN in stack  # the crashing function's frame, as the application filled it


def test_stack_bytes_stop_at_the_end_of_sram(elf):
    with LifecycleApp(elf, CRASH, app_body=crash_policy(include_stack_bytes=1 << 20)) as app:
        app.run(0.5)
        document = crash_report.decode(app.kernel.storage.crash_reports()[0])
    sp = document["registers"]["sp"]
    assert len(crash_report.stack_bytes(document)) == SRAM.start + SRAM.size - sp


def test_sealed_report_decrypts_only_with_the_private_key(elf):
    key = ec.generate_private_key(ec.SECP256R1())
    pubkey = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    policy = crash_policy(crash_report_pubkey=pubkey, include_stack_bytes=256)
    with LifecycleApp(elf, CRASH, app_body=policy) as app:
        app.run(0.5)
        blob = app.kernel.storage.crash_reports()[0]
        event = app.of("kernel", "crash-report")[0]

    assert crash_report.is_sealed(blob) and event.data["sealed"]
    assert PATTERN[:16] not in blob and b"SecureFault" not in blob
    with pytest.raises(crash_report.CrashReportError):
        crash_report.decode(blob)
    with pytest.raises(crash_report.CrashReportError):
        crash_report.decode(blob, ec.generate_private_key(ec.SECP256R1()))
    document = crash_report.decode(blob, key)
    assert document["fault"] == "SecureFault"
    assert PATTERN[:64] in crash_report.stack_bytes(document)


def test_without_a_manifest_the_default_policy_applies(elf):
    with LifecycleApp(elf, CRASH) as app:
        app.run(4.0)
        document = crash_report.decode(app.kernel.storage.crash_reports()[0])
    assert restart_delays(app)[:2] == [1000, 2000]
    assert document["stack"] is None


def test_stop_on_crash_returns_at_each_crash_and_running_on_restarts(elf):
    with LifecycleApp(elf, CRASH, app_body=crash_policy(minimum_restart_ms=250),
                      stop_on_crash=True) as app:
        first = app.run(10.0)
        assert first.reason == "crash" and first.crash is not None
        assert first.crash.fault == "SecureFault"
        assert len(app.kernel.storage.crash_reports()) == 1
        assert app.device.parked == app.kernel.BACKOFF  # the restart is already scheduled
        second = app.run(10.0)
        assert second.reason == "crash"
        assert (second.time_ns - first.time_ns) / 1e9 == pytest.approx(0.25, abs=0.02)
        assert [b.wake for b in app.boots()] == [MvWakeReason.COLDBOOT,
                                                 MvWakeReason.APPLICATIONCRASH]
        assert len(app.kernel.storage.crash_reports()) == 2


def test_streak_ends_when_the_application_outlives_the_maximum_interval(elf):
    policy = crash_policy(minimum_restart_ms=50, maximum_restart_ms=100)
    with LifecycleApp(elf, CRASH_LATER, argument=150, app_body=policy) as app:
        app.run(1.0)
    delays = restart_delays(app)
    assert len(delays) >= 3 and set(delays) == {50}
    assert {e.data["consecutive"] for e in app.of("kernel", "crash-report")} == {1}


def test_delivered_reports_are_forgotten(elf):
    with LifecycleApp(elf, CRASH, app_body=crash_policy(minimum_restart_ms=100)) as app:
        app.run(0.5)
        storage = app.kernel.storage
        count = len(storage.crash_reports())
        storage.remove_crash_reports(1)
        assert len(storage.crash_reports()) == count - 1


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, (1000, 60_000)),
    ({"minimum_restart_ms": 5000}, (5000, 60_000)),
    ({"minimum_restart_ms": 90_000}, (90_000, 90_000)),
    ({"maximum_restart_ms": 300}, (300, 300)),
    ({"minimum_restart_ms": 800, "maximum_restart_ms": 200}, (800, 800)),
    ({"minimum_restart_ms": 10, "maximum_restart_ms": 50}, (10, 50)),
])
def test_policy_defaults_fill_unset_values(fields, expected):
    policy = CrashPolicy.of(crash_policy(**fields))
    assert (policy.minimum_restart_ms, policy.maximum_restart_ms) == expected


def test_backoff_doubles_up_to_the_maximum():
    policy = CrashPolicy.of(crash_policy(minimum_restart_ms=10, maximum_restart_ms=50))
    assert [policy.backoff_ms(n) for n in range(1, 7)] == [10, 20, 40, 50, 50, 50]
    assert CrashPolicy.of(None) == CrashPolicy()
    assert policy.backoff_ms(10_000) == 50
