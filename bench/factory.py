"""Factory benchmark: blank chips through the headless station, one at a time, then 4 at once: JSON."""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "build" / "examples"
TOKEN_LABEL, TOKEN_PIN, TOKEN_SO_PIN = "mv-bench-card", "246810", "13579246"
TARGET_SECONDS_PER_DUT = 10
SERVER_START_S, CHIP_START_S, STOP_S, COMMAND_S = 60.0, 60.0, 15.0, 120.0
STEPS = range(1, 11)


class BenchFailure(Exception):
    """The benchmark cannot go on; str() is one sentence."""


def _die_with_parent() -> None:
    """In a child before exec: the kernel ends it when the bench dies, even by SIGKILL."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _last_words(text: str) -> str:
    said = [line.strip() for line in text.splitlines() if line.strip()]
    return said[-1].removeprefix("error: ").rstrip(".") if said else "it said nothing"


def _stop(process: subprocess.Popen) -> None:
    """Ctrl-C, as a user would; killed if it does not end in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Bench:
    def __init__(self, args: argparse.Namespace, folder: Path):
        self.args = args
        self.folder = folder
        cli = Path(sys.executable).with_name("microvisor")  # the venv's `microvisor` command
        self.cli = [str(cli)] if cli.exists() else [sys.executable, "-m", "microvisor.cli.main"]
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("MICROVISOR_")}
        self.env["XDG_CONFIG_HOME"] = str(folder / "config")  # leave the user's profile be
        self.server: subprocess.Popen | None = None
        self.server_log = None
        self.chips: dict[str, subprocess.Popen] = {}

    # --- running the CLI ------------------------------------------------------------------------
    def run(self, *args: str) -> str:
        """One command to its end; its stdout."""
        try:
            done = subprocess.run([*self.cli, *args], capture_output=True, text=True, env=self.env,
                                  cwd=self.folder, timeout=COMMAND_S)
        except subprocess.TimeoutExpired:
            raise BenchFailure(f"`microvisor {' '.join(args[:2])}` did not finish in {COMMAND_S:g} s") \
                from None
        if done.returncode != 0:
            said = _last_words(done.stderr + done.stdout)
            raise BenchFailure(f"`microvisor {' '.join(args[:2])}` failed: {said}")
        return done.stdout

    def start_server(self) -> None:
        data = self.folder / "server"
        self.server_log = open(self.folder / "server.log", "wb")  # closed in close()
        self.server = subprocess.Popen([*self.cli, "server", "--data", str(data), "--port", "0"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=self.server_log, text=True, env=self.env,
                                       start_new_session=True, preexec_fn=_die_with_parent)
        found: queue.Queue[str] = queue.Queue()

        def read() -> None:
            for line in self.server.stdout:
                if "listening on http://" in line:
                    found.put(line.split("listening on ", 1)[1].split()[0])
            found.put("")

        threading.Thread(target=read, daemon=True).start()
        try:
            url = found.get(timeout=SERVER_START_S)
        except queue.Empty:
            url = ""
        if not url:
            raise BenchFailure("the server did not start: "
                               + _last_words((self.folder / "server.log").read_text(errors="replace")))
        saved = json.loads((data / "credentials.json").read_text())
        self.env.update(MICROVISOR_URL=url, MICROVISOR_ACCOUNT_SID=saved["account_sid"],
                        MICROVISOR_AUTH_TOKEN=saved["auth_token"], MICROVISOR_CARD_PIN=TOKEN_PIN)

    def issue_card(self, licences: int) -> str:
        from microvisor.factory.card import CardError, init_softhsm_token

        if shutil.which("softhsm2-util") is None:
            raise BenchFailure("softhsm2-util is missing; run `make setup` (apt softhsm2)")
        try:
            config = init_softhsm_token(self.folder / "softhsm", TOKEN_LABEL, TOKEN_PIN, TOKEN_SO_PIN)
        except CardError as exc:
            raise BenchFailure(str(exc).rstrip(".")) from None
        self.env["SOFTHSM2_CONF"] = str(config)  # the token store of this bench alone
        issued = self.run("factory", "card", "issue", "--account", self.env["MICROVISOR_ACCOUNT_SID"],
                          "--licences", str(licences), "--token-label", TOKEN_LABEL, "--data", "server",
                          "--json")
        return json.loads(issued)["card_sid"]

    def build_image(self) -> Path:
        platform = "server/platform"
        self.run("factory", "test-program", "--platform", platform, "-o", "test-program.zip")
        self.run("kernel", "build", "--platform", platform, "-o", "kernel.zip")
        self.run("apps", "bundle", str(self.args.test_elf), "test.zip", "--unsigned")
        self.run("apps", "bundle", str(self.args.app_elf), "app.zip", "--unsigned")
        self.run("factory", "image", "--platform", platform, "--test-program", "test-program.zip",
                 "--kernel", "kernel.zip", "--test-bundle", "test.zip", "--app-bundle", "app.zip",
                 "-o", "spi.img")
        return self.folder / "spi.img"

    # --- the chips and the station ----------------------------------------------------------------
    def power_on(self, run_name: str, count: int) -> dict[str, str]:
        """count new blank chips, all started at once; DUT name -> its station address."""
        started = {}
        (self.folder / "chips").mkdir(exist_ok=True)
        for number in range(1, count + 1):
            name = f"{run_name}-dut{number}"
            with open(self.folder / "chips" / f"{name}.log", "wb") as log:  # the child keeps its own copy
                started[name] = subprocess.Popen(
                    [*self.cli, "device", "blank", str(self.folder / "chips" / name), "--platform",
                     "server/platform", "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=log, text=True, env=self.env, cwd=self.folder, start_new_session=True,
                    preexec_fn=_die_with_parent)
            self.chips[name] = started[name]
        addresses = {}
        deadline = time.monotonic() + CHIP_START_S
        for name, process in started.items():
            line = _read_line(process, deadline)
            if not line:
                _stop(process)
                said = (self.folder / "chips" / f"{name}.log").read_text(errors="replace")
                raise BenchFailure(f"blank chip {name} did not start: {_last_words(said)}")
            threading.Thread(target=process.stdout.read, daemon=True).start()  # whatever else it prints
            found = json.loads(line)
            addresses[name] = f"{name}=127.0.0.1:{found['debug_port']}:{found['uart_port']}"
        return addresses

    def station(self, image: Path, addresses: dict[str, str], parallel: int) -> tuple[float, list[dict]]:
        """The headless station over these DUTs; its wall time and each DUT's result."""
        command = [*self.cli, "factory", "station", "--headless", "--json", "--image", str(image),
                   "--card", TOKEN_LABEL, "--name", f"bench-{parallel}", "--duts", str(parallel),
                   "--step-timeout", str(self.args.step_timeout)]
        for address in addresses.values():
            command += ["--dut", address]
        errors: list[str] = []
        results: list[dict] = []
        started = time.perf_counter()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=self.env, cwd=self.folder,
                                   start_new_session=True, preexec_fn=_die_with_parent)
        threading.Thread(target=lambda: errors.extend(process.stderr), daemon=True).start()
        timer = threading.Timer(COMMAND_S + self.args.step_timeout * 10, process.kill)
        timer.start()
        try:
            for line in process.stdout:
                if not line.startswith("{"):
                    continue
                event = json.loads(line)
                if event.get("status") == "done":
                    results.append(event["result"])
                    chip = self.chips.get(event["dut"])
                    if chip is not None:  # the board leaves the fixture
                        threading.Thread(target=_stop, args=(chip,), daemon=True).start()
            process.wait()
            wall = time.perf_counter() - started
        finally:
            timer.cancel()
            _stop(process)
        failed = [r for r in results if not r.get("passed")]
        if failed:
            first = failed[0]
            raise BenchFailure(f"{len(failed)} of {len(addresses)} DUTs failed (e.g. {first['dut']} at step "
                               f"{first['step']}: {first['reason'].rstrip('.')})")
        if len(results) != len(addresses) or process.returncode != 0:
            raise BenchFailure(f"the station ended with exit status {process.returncode} after "
                               f"{len(results)} of {len(addresses)} results: {_last_words(''.join(errors))}")
        return wall, results

    def stop_chips(self) -> None:
        for process in self.chips.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.chips.values():
            _stop(process)

    def close(self) -> None:
        self.stop_chips()
        if self.server is not None:
            _stop(self.server)
        if self.server_log is not None:
            self.server_log.close()

    # --- the benchmark ----------------------------------------------------------------------------
    def measure(self) -> dict[str, Any]:
        args = self.args
        self.start_server()
        self.issue_card(len(args.parallel) * args.duts)
        image = self.build_image()
        runs = {}
        for parallel in args.parallel:
            addresses = self.power_on(f"p{parallel}", args.duts)
            wall, results = self.station(image, addresses, parallel)
            self.stop_chips()
            runs[f"parallel_{parallel}"] = (wall, results)
        return report(args, runs)


def _read_line(process: subprocess.Popen, deadline: float) -> str:
    """The first stdout line of a process, or "" when it ends or the deadline passes first."""
    found: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: found.put(process.stdout.readline()), daemon=True).start()
    try:
        return found.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        return ""


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def report(args: argparse.Namespace, runs: dict[str, tuple[float, list[dict]]]) -> dict[str, Any]:
    seconds, per_hour, walls, steps, outside = {}, {}, {}, {}, {}
    for key, (wall, results) in runs.items():
        seconds[key] = _spread([r["seconds"] for r in results])
        walls[key] = round(wall, 3)
        per_hour[key] = round(len(results) / wall * 3600, 1)
        steps[key] = {str(step): round(statistics.median(r["step_seconds"][str(step)] for r in results), 3)
                      for step in STEPS if all(str(step) in r["step_seconds"] for r in results)}
        outside[key] = round(statistics.median(r["seconds"] - sum(r["step_seconds"].values())
                                               for r in results), 3)
    first = next(iter(seconds.values()))  # the run one DUT at a time, by default
    runs_text = ", ".join(str(p) for p in args.parallel)
    cpus = os.cpu_count()
    return {
        "duts": args.duts,
        "seconds_per_dut": seconds,
        "duts_per_hour": per_hour,
        "station_wall_seconds": walls,
        "step_seconds": steps,
        "seconds_outside_steps": outside,
        "target_seconds_per_dut": TARGET_SECONDS_PER_DUT,
        "within_target": first["median"] <= TARGET_SECONDS_PER_DUT,
        "cpu_count": cpus,
        "load_average_at_start": round(args.load_average, 2),
        "method": (
            f"{args.duts} fresh blank chips (`microvisor device blank --platform`, paced) per run, all "
            "powered on before the run, then one `microvisor factory station --headless --json` process "
            f"over them with --duts P (P = {runs_text}); every DUT passed all ten steps against a real "
            "`microvisor server` (SQLite, its own Mosquitto) with a SoftHSM2 card. seconds_per_dut: "
            "median/min/max over the run's DUTs of the station's DutResult.seconds (wall clock from the "
            "station starting that DUT to its result). duts_per_hour: DUTs / wall seconds of the whole "
            "station process (start to exit, including its start-up and opening the card) x 3600. "
            "station_wall_seconds: that wall time. step_seconds: per run, median over the DUTs of "
            "DutResult.step_seconds[step] (from the step's first running event to its passed event). "
            "seconds_outside_steps: per run, median over the DUTs of seconds minus the sum of its "
            "step_seconds (between one step's end and the next one's first event, e.g. the reboot into "
            "the microvisor before step 9). within_target: the first run's median seconds_per_dut <= "
            "target_seconds_per_dut. load_average_at_start: the host's 1-minute load average when the "
            "bench started. Each chip is powered off as soon as the station reports it done. The service,"
            f" its broker, the station and every emulated chip share this host's {cpus} CPUs."),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duts", type=int, default=8, help="DUTs per station run (default 8)")
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 4],
                        help="the --duts of each station run (default: 1 then 4)")
    parser.add_argument("--step-timeout", type=float, default=30.0, help="the station's --step-timeout")
    parser.add_argument("--test-elf", type=Path, default=EXAMPLES / "factory_test" / "factory_test.elf",
                        help="the test bundle's ELF (default: the factory_test example)")
    parser.add_argument("--app-elf", type=Path, default=EXAMPLES / "blinky" / "blinky.elf",
                        help="the application's ELF (default: the blinky example)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    args.load_average = os.getloadavg()[0]
    if not 1 <= args.duts <= 64 or not all(1 <= p <= 64 for p in args.parallel) or args.step_timeout <= 0:
        sys.exit("--duts and each --parallel must be from 1 to 64, and --step-timeout positive.")
    for elf in (args.test_elf, args.app_elf):
        if not elf.is_file():
            sys.exit(f"factory benchmark failed: {elf} is missing (build the examples with `make examples`).")
    args.test_elf, args.app_elf = args.test_elf.resolve(), args.app_elf.resolve()
    folder = Path(tempfile.mkdtemp(prefix="microvisor-factory-bench-"))
    bench = Bench(args, folder)
    failure = None
    interrupted = False
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up as Ctrl-C does
    try:
        result = bench.measure()
    except BenchFailure as exc:
        failure = str(exc)
    except KeyboardInterrupt:
        interrupted = True
    except Exception as exc:  # a bug in the bench itself: still one sentence, and everything stopped
        failure = f"unexpected {type(exc).__name__}: {exc}"
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave processes behind
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.close()
        if not args.keep and failure is None:
            shutil.rmtree(folder, ignore_errors=True)
        elif not args.keep:  # keep the server's log, not the chips
            shutil.rmtree(folder / "chips", ignore_errors=True)
    if interrupted:
        sys.exit("factory benchmark interrupted; everything it started is stopped.")
    if failure is not None:
        sys.exit(f"factory benchmark failed: {failure.rstrip('.')} (server log in {folder}).")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
