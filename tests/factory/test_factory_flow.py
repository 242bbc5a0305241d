"""The ten steps end to end: blank chips, the headless station, a real service, a SoftHSM2 card."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from microvisor.common import spi_image
from microvisor.common.bundle import Bundle

from ..conftest import CLI
from .conftest import FactoryEnv, results

pytestmark = pytest.mark.slow


def inspect(dut_folder) -> dict:
    done = subprocess.run([str(CLI), "device", "inspect", str(dut_folder), "--json"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def app_manifest_hash(image_path) -> str:
    image = image_path.read_bytes()
    reader = spi_image.file_reader(image)
    part = spi_image.read_part(reader, spi_image.read(reader, None), "app-bundle")
    return Bundle.from_bytes(part).manifest_hash


def wait_until(check, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_three_duts_good_faulty_qspi_and_failing_test_bundle(factory_env: FactoryEnv):
    env = factory_env
    good = env.duts[0]
    faulty = env.blank("faulty", "--fault", "qspi-wrong-size")
    failing = env.blank("failing")
    failing_image = env.image("failing.spi", env.examples / "factory_test_fail" / "factory_test_fail.elf",
                              env.examples / "blinky" / "blinky.elf")

    first = env.station(good.address("good"), faulty.address("faulty"))
    second = env.station(failing.address("failing"), image=failing_image)
    assert first.returncode == 1 and second.returncode == 1, first.stderr + second.stderr
    found = {**results(first), **results(second)}

    assert found["good"]["passed"] and found["good"]["step"] == 10, found["good"]
    assert set(found["good"]["step_seconds"]) >= {"4", "5", "6", "7", "8", "9", "10"}
    assert not found["faulty"]["passed"] and found["faulty"]["step"] == 5
    assert "reports 32 MiB" in found["faulty"]["reason"]
    assert not found["failing"]["passed"] and found["failing"]["step"] == 10
    assert "test bundle failed" in found["failing"]["reason"]

    with env.api() as api:  # the manufactured device connects with its certificate, like any other
        sid = found["good"]["device_sid"]
        wait_until(lambda: api.get(f"/v1/Devices/{sid}")["connection"]["connected"])
    for dut in (good, faulty, failing):  # the chips keep running: stop them to read their flash
        dut.process.terminate()
        dut.process.wait(timeout=15)
    made = inspect(good.folder)
    assert made["otp"]["factory_mode"] is False and made["otp"]["debug_locked"] is True
    assert made["application"]["manifest_hash"] == app_manifest_hash(env.image_path)
    rejected = inspect(failing.folder)
    assert rejected["otp"]["factory_mode"] is True
    assert rejected["application"]["manifest_hash"] is None  # the application is not installed
    assert inspect(faulty.folder)["kernel"].get("version_string") == "test-program 0.1.0"

    with env.api() as api:
        card = api.get(f"/v1/Factory/Cards/{env.card_sid}")
        assert card["licences_used"] == 2  # the good and the failing chip were certified; the faulty not
        certified = {c["device_sid"] for c in api.get("/v1/Factory/Certificates")["certificates"]}
        assert found["good"]["device_sid"] in certified and found["failing"]["device_sid"] in certified
        listed = api.get("/v1/Factory/Results")["results"]
        recorded = {(r["chip_uid"], r["passed"], r["step"]) for r in listed}
        assert recorded == {(good.chip_uid, True, 10), (faulty.chip_uid, False, 5),
                            (failing.chip_uid, False, 10)}
        device = api.get(f"/v1/Devices/{found['good']['device_sid']}")
        assert device["account_sid"] == env.account_sid
