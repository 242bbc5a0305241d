"""Threats a hostile factory poses, end to end: exhausted, revoked and foreign cards, a cloned chip ID,
and a power cut at any step. The real service, SoftHSM2 card, station and chip processes."""

from __future__ import annotations

import json
import subprocess

import pytest
from sqlalchemy import update

from microvisor.cloud.models import FactoryCard
from microvisor.cloud.service import open_database

from ..conftest import CLI
from .conftest import TOKEN_PIN, FactoryEnv, results, start_blank, stop_blank
from .test_factory_flow import inspect

pytestmark = pytest.mark.slow


def no_test_program(dut) -> bool:
    """The chip holds nothing the ROM would boot: the SFI never installed the test program."""
    stop_blank(dut)
    return "error" in inspect(dut.folder)["kernel"]


def test_an_exhausted_card_installs_nothing(factory_env: FactoryEnv):
    database = open_database(factory_env.data)
    with database.transaction() as session:
        session.execute(update(FactoryCard).values(licences_used=FactoryCard.licences))
    database.dispose()
    dut = factory_env.duts[0]
    found = results(factory_env.station(dut.address("dut")))["dut"]
    assert (found["passed"], found["step"]) == (False, 4) and "no licences left" in found["reason"]
    assert no_test_program(dut)


def test_a_revoked_card_installs_nothing(factory_env: FactoryEnv):
    revoked = subprocess.run([str(CLI), "factory", "card", "revoke", factory_env.card_sid, "--data",
                              str(factory_env.data)], capture_output=True, text=True, timeout=60)
    assert revoked.returncode == 0, revoked.stderr
    dut = factory_env.duts[0]
    found = results(factory_env.station(dut.address("dut")))["dut"]
    assert (found["passed"], found["step"]) == (False, 4) and "revoked" in found["reason"]
    assert no_test_program(dut)


def test_another_accounts_card_installs_nothing(factory_env: FactoryEnv):
    env = factory_env
    made = subprocess.run([str(CLI), "server", "accounts", "create", "--data", str(env.data), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    other = json.loads(made.stdout)["account_sid"]
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "foreign", "--so-pin", "87654321",
                    "--pin", TOKEN_PIN], check=True, capture_output=True)
    issued = subprocess.run([str(CLI), "factory", "card", "issue", "--account", other, "--licences", "5",
                             "--token-label", "foreign", "--pin", TOKEN_PIN, "--data", str(env.data)],
                            capture_output=True, text=True, timeout=60)
    assert issued.returncode == 0, issued.stderr
    dut = env.duts[0]
    found = results(env.station(dut.address("dut"), extra=("--card", "foreign")))["dut"]
    assert (found["passed"], found["step"]) == (False, 4) and "cannot be used" in found["reason"]
    assert no_test_program(dut)


def test_a_cloned_chip_id_is_not_certified_twice(factory_env: FactoryEnv):
    env = factory_env
    original = env.duts[0]
    assert results(env.station(original.address("original")))["original"]["passed"]
    clone = env.blank("clone", "--chip-uid", original.chip_uid)
    found = results(env.station(clone.address("clone")))["clone"]
    assert (found["passed"], found["step"]) == (False, 7)
    assert "certified already, with another key" in found["reason"]
    with env.api() as api:
        assert api.get(f"/v1/Factory/Cards/{env.card_sid}")["licences_used"] == 1
        refused = api.get("/v1/Factory/Rejections")["rejections"]
        assert [r["chip_uid"] for r in refused] == [original.chip_uid]


def test_a_power_cut_at_any_step_leaves_a_chip_the_station_can_finish(factory_env: FactoryEnv):
    env = factory_env
    for step in range(2, 11):
        dut = env.blank(f"cut-at-{step}")
        station = subprocess.Popen(env.station_command(dut.address("dut")), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=env.env())
        for line in station.stdout:  # cut the chip's power as soon as the station reaches the step
            event = json.loads(line)
            if event["step"] >= step and event["status"] in ("running", "progress", "passed"):
                stop_blank(dut, power_cut=True)
                break
        station.kill()
        station.wait()
        again = start_blank(dut.folder, None, ports=(dut.debug_port, dut.uart_port))
        env.duts.append(again)
        found = results(env.station(again.address("dut")))["dut"]
        if not found["passed"]:  # the chip finished before the cut reached it: it must be whole
            assert "already left the factory" in found["reason"], (step, found["step"], found["reason"])
            stop_blank(again)
            made = inspect(dut.folder)
            assert made["otp"]["factory_mode"] is False and made["application"]["manifest_hash"]
        with env.api() as api:  # one licence a chip, never two
            assert api.get(f"/v1/Factory/Cards/{env.card_sid}")["licences_used"] == step - 1
