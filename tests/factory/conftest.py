"""Shared fixtures of the factory's tests: a SoftHSM2 token of the test's own, a running factory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest

from microvisor.common.api_client import ApiClient
from microvisor.common.platform import Platform
from microvisor.factory import card

from ..conftest import CLI

TOKEN_LABEL = "mv-test-card"
TOKEN_PIN = "123456"
TOKEN_SO_PIN = "87654321"


class SfiToken(NamedTuple):
    """An initialised, empty token: open it with SfiCard.open(module, label, pin)."""

    module: str
    label: str
    pin: str


@pytest.fixture
def sfi_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SfiToken:
    """A fresh token in a token store of this test alone; SOFTHSM2_CONF names it for this test (and for the
    `microvisor` processes it starts)."""
    if shutil.which("softhsm2-util") is None or not Path(card.DEFAULT_MODULE).exists():
        pytest.fail("SoftHSM2 is missing: run `make setup` (apt softhsm2)")
    config = card.init_softhsm_token(tmp_path / "softhsm", TOKEN_LABEL, TOKEN_PIN, TOKEN_SO_PIN)
    monkeypatch.setenv("SOFTHSM2_CONF", str(config))
    return SfiToken(card.DEFAULT_MODULE, TOKEN_LABEL, TOKEN_PIN)


@dataclass
class BlankDut:
    """A `microvisor device blank` process: a chip on the factory line."""

    folder: Path
    chip_uid: str
    debug_port: int
    uart_port: int
    process: subprocess.Popen

    def address(self, name: str | None = None) -> str:
        return f"{name or self.chip_uid}=127.0.0.1:{self.debug_port}:{self.uart_port}"


def start_blank(folder: Path, platform_dir: Path | None, *options: str, ports: tuple[int, int] = (0, 0)) \
        -> BlankDut:
    """Power a chip on (a new one when platform_dir is given); returns once its ports listen."""
    command = [str(CLI), "device", "blank", str(folder), "--json", "--debug-port", str(ports[0]),
               "--uart-port", str(ports[1]), *options]
    if platform_dir is not None:
        command += ["--platform", str(platform_dir)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise AssertionError(f"the blank chip did not start: {process.stderr.read()}")
    found = json.loads(line)
    return BlankDut(folder, found["chip_uid"], found["debug_port"], found["uart_port"], process)


def stop_blank(dut: BlankDut, *, power_cut: bool = False) -> None:
    """Stop the chip: SIGKILL for a power cut, else as Ctrl-C would."""
    if dut.process.poll() is None:
        dut.process.send_signal(signal.SIGKILL if power_cut else signal.SIGINT)
        try:
            dut.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            dut.process.kill()
            dut.process.wait()


@dataclass
class FactoryEnv:
    """A running service with an account, a SoftHSM2 card issued to it, a platform, a built SPI image
    and blank chips powered on (host 127.0.0.1)."""

    server_url: str
    account_sid: str
    auth_token: str
    data: Path
    platform_dir: Path
    token: SfiToken  # the card's token; SOFTHSM2_CONF names its store in this process's environment
    card_sid: str
    licences: int  # the card's licences, none used yet
    image_path: Path
    duts: list[BlankDut]
    folder: Path
    examples: Path

    def env(self) -> dict[str, str]:
        """The environment of a `microvisor` process acting for this account with this card."""
        return {**os.environ, "MICROVISOR_URL": self.server_url, "MICROVISOR_ACCOUNT_SID": self.account_sid,
                "MICROVISOR_AUTH_TOKEN": self.auth_token, "MICROVISOR_CARD_PIN": self.token.pin}

    def api(self) -> ApiClient:
        return ApiClient(self.server_url, self.account_sid, self.auth_token)

    def blank(self, name: str, *options: str) -> BlankDut:
        dut = start_blank(self.folder / name, self.platform_dir, *options)
        self.duts.append(dut)
        return dut

    def image(self, name: str, test_elf: Path, app_elf: Path) -> Path:
        """Another SPI image of this platform, with this test bundle and application."""
        return build_spi_image(Platform(self.platform_dir), test_elf, app_elf, self.folder / name)

    def station_command(self, *duts: str, image: Path | None = None, extra: tuple = ()) -> list[str]:
        """`factory station --headless --json` over these DUT addresses."""
        command = [str(CLI), "factory", "station", "--headless", "--json", "--image",
                   str(image or self.image_path), "--card", self.token.label, "--step-timeout", "20", *extra]
        for address in duts:
            command += ["--dut", address]
        return command

    def station(self, *duts: str, image: Path | None = None, timeout: float = 120, extra: tuple = ()) \
            -> subprocess.CompletedProcess:
        """Run the headless station over these DUT addresses; the finished process."""
        return subprocess.run(self.station_command(*duts, image=image, extra=extra), capture_output=True,
                              text=True, env=self.env(), timeout=timeout)


def build_spi_image(platform: Platform, test_elf: Path, app_elf: Path, path: Path) -> Path:
    from microvisor.cli.apps_cmd import make_bundle, manifest_body
    from microvisor.common import kernel_image
    from microvisor.factory.image import build_image

    test_program = kernel_image.build(platform, version_string=kernel_image.TEST_PROGRAM_VERSION,
                                      source=kernel_image.TEST_PROGRAM_SOURCE)
    test_bundle, _ = make_bundle(test_elf, manifest_body(None), None, None)
    app_bundle, _ = make_bundle(app_elf, manifest_body(None), None, None)
    kernel = kernel_image.build(platform)
    path.write_bytes(build_image(platform, test_program, kernel, test_bundle, app_bundle))
    return path


def events(completed: subprocess.CompletedProcess) -> list[dict]:
    """The JSON events a headless station printed."""
    return [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]


def results(completed: subprocess.CompletedProcess) -> dict[str, dict]:
    """Each DUT's result, by DUT name."""
    return {e["dut"]: e["result"] for e in events(completed) if e["status"] == "done"}


@pytest.fixture
def factory_env(tmp_path: Path, sfi_token: SfiToken, examples: Path) -> Iterator[FactoryEnv]:
    """The whole factory, all of it real: two blank chips to start with (env.blank adds more)."""
    from microvisor.cloud.data_dir import DataDir

    from ..link.conftest import running_server

    licences = 12
    with running_server(tmp_path) as server:
        platform_dir = DataDir(server.data).platform
        account, secret = server.credentials
        issued = subprocess.run([str(CLI), "factory", "card", "issue", "--account", account, "--licences",
                                 str(licences), "--token-label", sfi_token.label, "--pin", sfi_token.pin,
                                 "--data", str(server.data), "--json"], capture_output=True, text=True,
                                env=os.environ, timeout=60)
        assert issued.returncode == 0, issued.stderr
        image_path = build_spi_image(Platform(platform_dir), examples / "factory_test" / "factory_test.elf",
                                     examples / "blinky" / "blinky.elf", tmp_path / "factory.spi")
        env = FactoryEnv(server.url, account, secret, server.data, platform_dir, sfi_token,
                         json.loads(issued.stdout)["card_sid"], licences, image_path, [], tmp_path, examples)
        try:
            for number in range(2):
                env.blank(f"chip{number}")
            yield env
        finally:
            for dut in env.duts:
                stop_blank(dut)
