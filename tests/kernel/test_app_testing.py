"""Manufacturing-test calls: working in factory mode, UNAVAILABLE everywhere else."""

from __future__ import annotations

from microvisor.common.mv_abi import MvStatus


def statuses(run) -> dict[str, int]:
    return {line.split()[1]: int(line.split()[2], 16) for line in run.lines
            if line.startswith("STATUS ")}


def test_in_factory_mode_the_test_logs_and_the_result_stops_the_application(kernel_apps, device_run):
    run = device_run(kernel_apps / "app_testing" / "app_testing.elf", until="app_testing: returned",
                     factory_mode=True)
    result = run.run(timeout_s=2)
    assert result.reason == "timeout"  # parked: mvTestingComplete does not return
    assert statuses(run) == {
        "log-before-init": MvStatus.UNAVAILABLE, "init-kernel": MvStatus.PARAMETERFAULT,
        "init-unaligned": MvStatus.INVALIDBUFFERALIGNMENT,
        "init-small": MvStatus.INVALIDBUFFERSIZE, "init": MvStatus.OKAY,
        "log-null": MvStatus.PARAMETERFAULT, "log-too-long": MvStatus.LOGMESSAGETOOLONG,
        "log": MvStatus.OKAY}
    assert [e.data["text"] for e in run.of("log", "test")] == ["test log: hello"]
    assert [e.data for e in run.of("kernel", "testing-complete")] == [{"result": 7, "passed": False}]
    assert "app_testing: returned" not in run.lines

    run.device.request_reset("sysresetreq")  # the testing code runs again after a reset
    run.events.clear()
    run.run(timeout_s=2)
    assert run.lines[0] == "app_testing: start"
    assert len(run.of("kernel", "testing-complete")) == 1


def test_outside_factory_mode_the_calls_are_unavailable(kernel_apps, device_run):
    run = device_run(kernel_apps / "app_testing" / "app_testing.elf", until="app_testing: returned",
                     factory_mode=False)
    assert run.run(timeout_s=2).reason == "until"
    found = statuses(run)
    assert found.pop("complete") == MvStatus.UNAVAILABLE
    assert set(found.values()) == {MvStatus.UNAVAILABLE}
    assert run.of("kernel", "testing-complete") == [] and run.of("log", "test") == []
