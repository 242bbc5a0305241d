"""The boot ROM: verified kernels, staged updates applied atomically through power loss."""

from __future__ import annotations

import pytest

from microvisor.common import kernel_image
from microvisor.common.bundle import Bundle, BundleError, build_app
from microvisor.common.platform import Platform
from microvisor.device.boot_rom import BootError, BootRom, check_kernel, power_on
from microvisor.device.firmware import load_firmware
from microvisor.device.flash import PowerCut
from microvisor.device.flash_layout import KERNEL_IMAGE
from microvisor.device.provisioning import create_device
from microvisor.device.staging import KIND_APP, KIND_KERNEL, Staging
from microvisor.device.state import DeviceState


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Platform:
    return Platform.init(tmp_path_factory.mktemp("rom") / "platform")


@pytest.fixture(scope="module")
def kernel(platform) -> Bundle:
    return kernel_image.build(platform)


def app(platform: Platform, elf) -> Bundle:
    bundle = build_app(load_firmware(elf).data)
    bundle.sign(platform.app_key)
    return bundle


def boot(path, *, stage: Bundle | None = None, kind: int = KIND_APP, run_s: float = 0.0):
    """Stage (optionally), power on, run a little; returns (manifest hash of the app, log lines)."""
    with DeviceState.open(path, create=False) as state:
        if stage is not None:
            Staging(state).write(kind, stage.to_bytes())
        device, kernel = power_on(state)
        lines: list[str] = []
        device.events.subscribe(lambda e: lines.append(e.data["text"]) if e.source == "log" else None)
        try:
            if run_s:
                device.run(timeout_s=run_s)
        finally:
            device.close()
        return kernel.app_manifest_hash, lines


def test_a_fresh_device_waits_for_an_application(platform, kernel, tmp_path):
    create_device(tmp_path / "dev", platform, kernel)
    with DeviceState.open(tmp_path / "dev", create=False) as state:
        device, booted = power_on(state)
        assert booted.app_manifest_hash is None and "no application" in device.parked
        assert device.run(timeout_s=5).reason == "timeout"  # waiting costs no wall time
        device.close()


def test_a_tampered_kernel_does_not_boot_and_a_signed_one_in_qspi_recovers_it(platform, kernel, examples,
                                                                              tmp_path):
    blinky = app(platform, examples / "blinky" / "blinky.elf")
    create_device(tmp_path / "dev", platform, kernel)
    boot(tmp_path / "dev", stage=blinky)
    with DeviceState.open(tmp_path / "dev", create=False) as state:
        flash = state.internal_flash
        middle = KERNEL_IMAGE.offset + 4 + len(kernel.to_bytes()) // 2
        page = middle // flash.page_size * flash.page_size
        data = bytearray(flash.read(page, flash.page_size))
        data[middle - page] ^= 0x01
        flash.erase_page(page // flash.page_size)
        flash.program(page, bytes(data))
        with pytest.raises(BootError, match="kernel verification failed"):
            power_on(state)
    hash_, lines = boot(tmp_path / "dev", stage=kernel, kind=KIND_KERNEL, run_s=1.2)
    assert hash_ == blinky.manifest_hash and lines[:2] == ["LED on", "LED off"]


def test_the_rom_checks_every_part_of_a_kernel(platform, kernel):
    root_hash = platform.root_key_hash
    assert check_kernel(kernel, root_hash, 1).version == kernel_image.VERSION_NUMBER
    with pytest.raises(BundleError, match="lower than"):
        check_kernel(kernel, root_hash, 2)
    with pytest.raises(BundleError, match="not the one in this device's OTP"):
        check_kernel(kernel, b"\0" * 32, 0)
    swapped = Bundle.from_bytes(kernel.to_bytes())
    [name] = swapped.layers
    swapped.layers[name] = swapped.layers[name] + b"\0"
    with pytest.raises(BundleError, match="does not match its hash"):
        check_kernel(swapped, root_hash, 0)
    forged = kernel_image.build(Platform.init(platform.path.parent / "other"))
    forged.extras = dict(kernel.extras)  # the right root key, but delegations it did not sign
    with pytest.raises(BundleError):
        check_kernel(forged, root_hash, 0)


def test_a_kernel_with_a_lower_ratchet_is_refused(platform, tmp_path, examples):
    create_device(tmp_path / "dev", platform, kernel_image.build(platform, ratchet=3, version_number=3))
    old = kernel_image.build(platform, ratchet=2, version_number=4)
    boot(tmp_path / "dev", stage=old, kind=KIND_KERNEL)
    with DeviceState.open(tmp_path / "dev", create=False) as state:
        rom = BootRom(state)
        outcome = rom.last_outcome()
        assert outcome["result"] == "discarded" and "ratchet 2 is lower than the 3" in outcome["reason"]
        assert rom.verify_installed_kernel().version == 3 and not rom.staging.present()


def test_power_cut_at_every_write_of_an_update_leaves_old_or_new(platform, kernel, examples, tmp_path):
    v1 = app(platform, examples / "blinky" / "blinky.elf")
    v2 = app(platform, examples / "syscalls" / "syscalls.elf")

    def device_with_v1(path) -> None:
        create_device(path, platform, kernel)
        assert boot(path, stage=v1)[0] == v1.manifest_hash

    device_with_v1(tmp_path / "count")
    with DeviceState.open(tmp_path / "count", create=False) as state:
        before = state.counter.count
        Staging(state).write(KIND_APP, v2.to_bytes())
        device, _ = power_on(state)
        device.close()
        writes = state.counter.count - before
    assert writes > 5
    seen = set()
    for cut in range(1, writes + 1):
        path = tmp_path / f"cut{cut}"
        device_with_v1(path)
        with DeviceState.open(path, create=False) as state:
            state.counter.power_cut_after = state.counter.count + cut
            with pytest.raises(PowerCut):
                Staging(state).write(KIND_APP, v2.to_bytes())
                power_on(state)
        running, lines = boot(path, run_s=0.6)
        assert running in (v1.manifest_hash, v2.manifest_hash), f"cut after write {cut}: nothing runs"
        assert lines, f"cut after write {cut}: the application did not start"
        seen.add(running)
    assert seen == {v1.manifest_hash, v2.manifest_hash}
