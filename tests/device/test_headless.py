"""A headless device: the ROM-verified kernel runs without a CPU (what the fleet benchmark hosts)."""

from __future__ import annotations

import pytest

from microvisor.common import kernel_image
from microvisor.common.bundle import build_app
from microvisor.common.platform import Platform
from microvisor.device.boot_rom import BootRom
from microvisor.device.clock import NS_PER_S
from microvisor.device.headless import HeadlessDevice
from microvisor.device.provisioning import create_device
from microvisor.device.staging import KIND_APP, Staging
from microvisor.device.state import DeviceState


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Platform:
    return Platform.init(tmp_path_factory.mktemp("headless") / "platform")


def power_on(state: DeviceState):
    package, report = BootRom(state).boot()
    device = HeadlessDevice(state)
    return device, package.boot(device, report)


def test_the_kernel_runs_headless_through_an_update_and_a_reboot(platform, tmp_path):
    create_device(tmp_path / "dev", platform, kernel_image.build(platform))
    app = build_app(bytes(range(256)) * 16)  # never executed: no CPU
    app.sign(platform.app_key)
    with DeviceState.open(tmp_path / "dev", create=False) as state:
        device, kernel = power_on(state)
        assert kernel.app_manifest_hash is None and "no application" in device.parked
        events = []
        device.events.subscribe(events.append)
        fired = []

        def in_an_hour() -> None:  # an idle device lets virtual time skip ahead
            fired.append(device.clock.now_ns())
            kernel.reboot("update")

        device.clock.schedule_in(3600 * NS_PER_S, in_an_hour)
        # The host acts as the application: a log line, an update staged; in an hour of virtual
        # time the kernel restarts the device through the ROM.
        device.post(lambda: kernel.log("hello from nowhere"))
        device.post(lambda: Staging(state).write(KIND_APP, app.to_bytes()))
        assert device.run().reason == "reboot"
        assert fired == [3600 * NS_PER_S]
        assert [e.data["text"] for e in events if e.source == "log"] == ["hello from nowhere"]
        kernel.close()
        device.close()
        device, kernel = power_on(state)  # the ROM applies the staged app; the kernel verifies it
        assert kernel.app_manifest_hash == app.manifest_hash and device.parked is None
        assert kernel.wake_reason.name == "APPLICATIONUPDATE"
        device.stop("done")
        assert device.run().reason == "done"
        kernel.close()
        device.close()
