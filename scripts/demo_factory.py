"""`make demo-factory`: an SFI card, an SPI image, three blank chips at the station; what the service saw."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rich.table import Table

import demo_kit
from demo_kit import START_TIMEOUT_S, Background, DemoError, console, heading, last_line

TOKEN_LABEL, TOKEN_PIN, TOKEN_SO_PIN = "mv-demo-card", "314159", "27182818"
LICENCES = 10
PLATFORM = "server/platform"  # the server's platform folder, inside its data folder
STATION_TIMEOUT_S, CONNECT_TIMEOUT_S = 120, 30
EXPECTED = {"good": (True, 10), "faulty": (False, 5), "failing": (False, 10)}  # DUT -> (passed, step)


class Chip:
    """A blank chip on the line: its `device blank` process, UID and ports."""

    def __init__(self, name: str, process: Background, found: dict[str, Any]):
        self.name = name
        self.process = process
        self.uid = str(found["chip_uid"])
        self.address = f"{name}=127.0.0.1:{found['debug_port']}:{found['uart_port']}"
        self.ports = (f"debug port 127.0.0.1:{found['debug_port']}, "
                      f"provisioning UART 127.0.0.1:{found['uart_port']}")


class FactoryDemo(demo_kit.Demo):
    def __init__(self, examples: Path, cli: Path, folder: Path):
        super().__init__(examples, cli, folder)
        self.api: Any = None

    def columns(self) -> int:
        return console.width - 2 if console.is_terminal else 150  # tables fit, indented

    def stop_all(self) -> None:
        super().stop_all()
        if self.api is not None:
            self.api.close()

    # --- the REST API -----------------------------------------------------------------------------
    def get(self, path: str) -> dict[str, Any]:
        """GET on the service's REST API, shown as it is made."""
        from microvisor.common.api_client import ApiError

        console.print(f"[bold]GET {path}[/bold]", markup=True)
        try:
            return self.api.get(path)
        except ApiError as exc:
            raise DemoError(f"GET {path} failed: {str(exc).rstrip('.')}.") from None

    # --- the story --------------------------------------------------------------------------------
    def story(self) -> None:
        elfs = {name: self.examples / name / f"{name}.elf" for name in ("factory_test", "factory_test_fail",
                                                                         "blinky")}
        for elf in elfs.values():
            if not elf.is_file():
                raise DemoError(f"{elf} is missing; build the examples first (make examples).")

        heading("1. A server in a temporary folder")
        _, url, account_sid, auth_token = self.start_server()
        from microvisor.common.api_client import ApiClient

        self.api = ApiClient(url, account_sid, auth_token)

        heading("2. The platform operator issues an SFI card on a fresh SoftHSM2 token")
        self.make_token()
        self.env["MICROVISOR_CARD_PIN"] = TOKEN_PIN
        console.print("  [dim](the card's PIN comes from MICROVISOR_CARD_PIN)[/dim]")
        issued = json.loads(self.run("factory", "card", "issue", "--account", account_sid,
                                     "--licences", str(LICENCES), "--token-label", TOKEN_LABEL, "--data",
                                     "server", "--json", show_output=False))
        card_sid = issued["card_sid"]
        console.print(f"  card {card_sid}: a P-256 key made on the token (it never leaves it) and the "
                      f"platform's certificate for account {account_sid}, {LICENCES} licences")
        self.run("factory", "card", "show", "--token-label", TOKEN_LABEL)

        heading("3. The software the line installs, in one signed SPI image")
        self.run("factory", "test-program", "--platform", PLATFORM, "-o", "test-program.zip")
        self.run("kernel", "build", "--platform", PLATFORM, "-o", "kernel.zip")
        for name, elf in elfs.items():
            self.run("apps", "bundle", str(elf), f"{name}.zip", "--unsigned")
        for image, test in (("spi.img", "factory_test"), ("spi-fail.img", "factory_test_fail")):
            self.run("factory", "image", "--platform", PLATFORM, "--test-program", "test-program.zip",
                     "--kernel", "kernel.zip", "--test-bundle", f"{test}.zip", "--app-bundle", "blinky.zip",
                     "-o", image)
        console.print("  [dim](spi-fail.img: the same, but the customer's test bundle fails "
                      "(factory_test_fail))[/dim]")
        self.run("factory", "inspect", "spi.img", "--platform", PLATFORM)

        heading("4. Three blank chips on the line")
        chips = {name: self.power_on(name, *options) for name, options in (
            ("good", ()), ("faulty", ("--fault", "qspi-wrong-size")), ("failing", ()))}
        for chip in chips.values():
            console.print(f"  {chip.name:8} chip {chip.uid}: {chip.ports}")
        console.print("  [dim](faulty: its QSPI flash reports the wrong size; failing: a good chip that will "
                      "get spi-fail.img)[/dim]")

        heading("5. The station takes them through the ten steps")
        self.station("spi.img", chips["good"], chips["faulty"])
        console.print()
        self.station("spi-fail.img", chips["failing"])

        heading("6. The results, as the service recorded them")
        self.show_results(chips)
        for name in ("faulty", "failing"):  # off the line; a stopped chip's flash can be read
            self.stop(chips[name].process)
        self.run("device", "inspect", "failing")
        found = json.loads(self.run("device", "inspect", "failing", "--json", show_output=False, quiet=True))
        if found["application"]["manifest_hash"] is not None or found["otp"]["factory_mode"] is not True:
            raise DemoError("the failing chip has an application installed or has left factory mode.")
        console.print("  failing: still in factory mode, no application installed: it does not leave the "
                      "line")

        heading("7. The card's licences and the certificates it paid for")
        card = self.get(f"/v1/Factory/Cards/{card_sid}")
        console.print(f"  card {card['sid']}: {card['licences']} licences, "
                      f"[bold]{card['licences_used']} used, {card['licences_left']} left[/bold]", markup=True)
        certificates = self.get("/v1/Factory/Certificates")["certificates"]
        by_chip = {chip.uid: chip.name for chip in chips.values()}
        table = Table("device", "DUT", "station", "card")
        for row in certificates:
            table.add_row(row["device_sid"], by_chip.get(row["chip_uid"], "?"), row["station"],
                          row["card_sid"][:10] + "…")
        console.print(table)
        if card["licences_used"] != 2 or sorted(by_chip.get(r["chip_uid"], "?") for r in certificates) != [
                "failing", "good"]:
            raise DemoError("the service did not certify exactly the good and the failing chip.")
        console.print("  [dim](a licence is used when a chip is certified, at step 7: the failing chip's "
                      "test bundle failed later, at step 10; the faulty chip never got that far)[/dim]")

        heading("8. The new device connects to the service")
        sid = next(row["device_sid"] for row in certificates if row["chip_uid"] == chips["good"].uid)
        self.wait_connected(sid)

    def make_token(self) -> None:
        from microvisor.factory.card import CardError, init_softhsm_token

        if shutil.which("softhsm2-util") is None:
            raise DemoError("softhsm2-util is missing; run `make setup` (apt softhsm2).")
        try:
            config = init_softhsm_token(self.folder / "softhsm", TOKEN_LABEL, TOKEN_PIN, TOKEN_SO_PIN)
        except CardError as exc:
            raise DemoError(f"{str(exc).rstrip('.')}.") from None
        self.env["SOFTHSM2_CONF"] = str(config)
        console.print(f"[bold]$ softhsm2-util --init-token --free --label {TOKEN_LABEL} --so-pin … "
                      "--pin …[/bold]", markup=True)
        console.print(f"  token '{TOKEN_LABEL}' in a token store of the demo's own (softhsm/; SOFTHSM2_CONF "
                      "names it)")

    def power_on(self, name: str, *options: str) -> Chip:
        process = self.start(f"chip {name}", "device", "blank", name, "--platform", PLATFORM, *options,
                             "--json", note="")
        line = process.wait_for(lambda: next((text for text in process.lines if text.startswith("{")), None),
                                START_TIMEOUT_S, f"chip {name} to power on")
        return Chip(name, process, json.loads(line))

    def station(self, image: str, *chips: Chip) -> None:
        args = ["factory", "station", "--headless", "--image", image, "--card", TOKEN_LABEL, "--name",
                "line-1"]
        for chip in chips:
            args += ["--dut", chip.address]
        station = self.start("the station", *args, note="")
        try:
            code = station.follow(STATION_TIMEOUT_S)
        finally:
            self.stop(station)
        if code not in (0, 1):  # 1: a DUT failed, as two of them must
            raise DemoError(f"the station stopped with exit status {code}{last_line(station.errors)}.")

    def show_results(self, chips: dict[str, Chip]) -> None:
        results = {row["chip_uid"]: row for row in self.get("/v1/Factory/Results")["results"]}
        table = Table("DUT", "result", "step", "reason")
        for chip in chips.values():
            row = results.get(chip.uid)
            if row is None:
                raise DemoError(f"the service has no result for chip {chip.name}.")
            verdict = "[green]passed[/green]" if row["passed"] else "[red]failed[/red]"
            table.add_row(chip.name, verdict, str(row["step"]), row["reason"])
        console.print(table)
        for chip in chips.values():
            row = results[chip.uid]
            if (row["passed"], row["step"]) != EXPECTED[chip.name]:
                passed, step = EXPECTED[chip.name]
                did = "passed" if row["passed"] else "failed"
                raise DemoError(f"chip {chip.name} {did} at step {row['step']} where it should have "
                                f"{'passed' if passed else 'failed'} at step {step}.")

    def wait_connected(self, sid: str) -> None:
        from microvisor.common.api_client import ApiError

        console.print(f"[bold]GET /v1/Devices/{sid}[/bold]  [dim](until connection.connected)[/dim]",
                      markup=True)
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            try:
                device = self.api.get(f"/v1/Devices/{sid}")
            except ApiError as exc:
                raise DemoError(f"GET /v1/Devices/{sid} failed: {str(exc).rstrip('.')}.") from None
            if device["connection"]["connected"]:
                break
            if time.monotonic() > deadline:
                raise DemoError(f"device {sid} did not connect within {CONNECT_TIMEOUT_S} s.")
            time.sleep(0.2)
        console.print(f"  {sid}: [green]connected[/green] since {device['connection']['date_changed']}, "
                      f"account {device['account_sid']}: with the certificate the factory gave it, like any "
                      "other device", markup=True)


def main(argv: list[str] | None = None) -> int:
    return demo_kit.main(FactoryDemo, __doc__, argv, examples="factory_test/, factory_test_fail/, blinky/",
                         prefix="microvisor-demo-factory-", stopped="the server and the chips")


if __name__ == "__main__":
    sys.exit(main())
