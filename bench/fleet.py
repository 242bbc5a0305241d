"""Fleet benchmark: N devices on one real `microvisor server`, as one JSON line.

Starts `microvisor server` (with its own Mosquitto) on a temporary data folder, and a few worker
processes that each host many devices. Every device is registered with POST /v1/Devices (its own
key; a certificate from the platform CA; the service's kernel), made in its own state folder and
powered on through the real boot ROM. The kernel the ROM verified and loaded runs on a
HeadlessDevice (src/microvisor/device/headless.py): its link (MQTT 5 over mutual TLS, hello, log
batches, acks), its update client (chunks through the QSPI download store, staging, the reboot
through the ROM) are the kernel's own; only the CPU is absent, so no application code runs. The
bench plays the application only by logging lines (kernel.log, what mvServerLog does).

What is measured (wall clock; devices, server and broker share this host's CPUs):

- connect: from the instant the kernels start (each starts its link at once) to the service having
  recorded every device connected (its `connected` events, read from its database); per device,
  from its kernel start to its event. Completion is confirmed through GET /v1/Devices.
- logs: every device logs K lines at once; lines per second from that instant to the last line
  stored in the service's database (all N*K counted, each device's lines checked).
- update: an app is uploaded (not timed), then every device is targeted with POST /v1/Devices/{Sid}
  TargetApp=…; from the first of those requests to the last device's update-complete event (it
  fetched the layers, staged them, rebooted through the ROM and reported the new app); per device,
  from its app-targeted event to its update-complete event. Completion is confirmed through
  GET /v1/Devices (every device up-to-date, reporting the app).
- memory: peak resident set (VmHWM from /proc) of the server process and of its Mosquitto.

While waiting, the bench reads the server's SQLite database (read-only) rather than polling the REST
API, so that its own polling does not load the server; the targets are set one request after another,
as `microvisor devices update A B …` does.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import datetime
import json
import logging
import math
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from microvisor.cloud.data_dir import DATABASE_FILE
from microvisor.common import keys
from microvisor.common.api_client import ApiClient, ApiError
from microvisor.common.bundle import Bundle, build_app
from microvisor.common.sids import device_sid
from microvisor.device.boot_rom import BootRom
from microvisor.device.firmware import FirmwareError, load_firmware
from microvisor.device.headless import HeadlessDevice
from microvisor.device.identity import Identity
from microvisor.device.provisioning import create_registered_device
from microvisor.device.state import DeviceState

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_APP = ROOT / "build" / "examples" / "blinky" / "blinky.elf"
SERVER_START_S = 60.0
POLL_S = 0.1  # how often the database is read while waiting


class BenchFailure(Exception):
    """The benchmark cannot go on; str() is one sentence."""


# --- the devices (worker processes) -------------------------------------------------------------

class FleetDevice:
    """One registered device: its state folder, powered on through the ROM, its kernel on a thread."""

    def __init__(self, path: Path, sid: str, on_error):
        self.path, self.sid = path, sid
        self.state = DeviceState.open(path, create=False)
        self.booted = BootRom(self.state).boot()  # the ROM: apply staging, verify and load the kernel
        self.device: Any = None
        self.kernel: Any = None
        self.started_at: float | None = None  # wall clock when its first kernel started
        self.running = threading.Event()
        self._stopping = False
        self._on_error = on_error
        self._thread = threading.Thread(target=self._life, name=f"device-{sid[-6:]}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _life(self) -> None:
        """Power-on after power-on, as `device run` does: the kernel may reboot through the ROM."""
        try:
            package, report = self.booted
            while True:
                device = HeadlessDevice(self.state)
                started = time.time()
                kernel = package.boot(device, report)  # the kernel starts its link at once
                self.device, self.kernel = device, kernel
                if self.started_at is None:
                    self.started_at = started
                self.running.set()
                result = device.run()
                kernel.close()
                device.close()
                if result.reason != "reboot" or self._stopping:
                    return
                package, report = BootRom(self.state).boot()
        except Exception as exc:  # reported to the orchestrator, which fails the run
            self._on_error(f"device {self.sid} stopped: {type(exc).__name__}: {exc}")
            self.running.set()

    def log(self, lines: list[str]) -> None:
        """The application logs these lines one after another (each as one mvServerLog call)."""
        kernel = self.kernel
        self.device.post(lambda: [kernel.log(text) for text in lines])

    def stop(self) -> None:
        self._stopping = True
        if self.device is not None:
            self.device.stop("power-off")

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=15)
        self.state.close()


def register(api, folder: Path) -> str:
    """Register a new device with the service and make it from the answer (what `device create
    --server` does); returns its SID."""
    uid = os.urandom(12)
    key = keys.generate()
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_sid(uid))]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    answer = api.post("/v1/Devices", {"ChipUid": uid.hex(), "Csr": csr})
    if not answer.get("broker"):
        raise BenchFailure("the service runs no device link")
    kernel = Bundle.from_bytes(base64.b64decode(answer["kernel_bundle"]))
    identity = Identity(sid=answer["sid"], key_pem=keys.private_pem(key).decode(),
                        certificate_pem=answer["certificate"], ca_pem=answer["ca_certificate"],
                        customer_keys=[], server=api.url, broker=answer["broker"])
    return create_registered_device(folder, kernel, identity, uid)


def worker(args: argparse.Namespace) -> None:
    """A worker process: register and power on its devices, then follow the orchestrator's commands
    (one JSON object per line on stdin; answers one per line on stdout)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lock = threading.Lock()

    def say(**message: Any) -> None:
        with lock:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

    def on_error(text: str) -> None:
        logging.error(text)
        say(error=text)

    devices: list[FleetDevice] = []
    try:
        started = time.perf_counter()
        with ApiClient(args.url, os.environ["FLEET_ACCOUNT_SID"], os.environ["FLEET_AUTH_TOKEN"]) as api:
            for index in range(args.first, args.first + args.count):
                folder = Path(args.root) / f"device-{index:05d}"
                sid = register(api, folder)
                api.post(f"/v1/Devices/{sid}", {"LoggingEnabled": True})
                devices.append(FleetDevice(folder, sid, on_error))
        say(ready=len(devices), setup_s=time.perf_counter() - started)
        for line in sys.stdin:
            command = json.loads(line)
            if command["do"] == "start":
                for device in devices:
                    device.start()
                for device in devices:
                    device.running.wait(timeout=60)
                say(started={d.sid: d.started_at for d in devices})
            elif command["do"] == "log":
                count = int(command["lines"])
                for device in devices:
                    device.log([f"fleet {device.sid} line {i}" for i in range(count)])
                say(logged=len(devices) * count)
            elif command["do"] == "stop":
                break
    except Exception as exc:
        on_error(f"a fleet worker failed: {type(exc).__name__}: {exc}")
    finally:
        for device in devices:  # power them all off, then wait for each
            device.stop()
        for device in devices:
            device.join()
        say(stopped=len(devices))


# --- the orchestrator -----------------------------------------------------------------------------

def _die_with_parent() -> None:
    """In a child before exec: the kernel ends it when the bench dies, even by SIGKILL."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Worker:
    """A worker process and the messages it sent."""

    def __init__(self, number: int, first: int, count: int, url: str, credentials: tuple[str, str],
                 root: Path, log_path: Path):
        env = {**os.environ, "FLEET_ACCOUNT_SID": credentials[0], "FLEET_AUTH_TOKEN": credentials[1]}
        self.number = number
        self.log_file = open(log_path, "wb")  # closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", "--url", url, "--root", str(root),
             "--first", str(first), "--count", str(count)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log_file, text=True, env=env,
            preexec_fn=_die_with_parent)
        self.messages: queue.Queue[dict] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                self.messages.put(json.loads(line))
            except ValueError:
                continue
        self.messages.put({"exited": self.process.wait()})

    def send(self, **command: Any) -> None:
        try:
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()
        except OSError:
            raise BenchFailure(f"fleet worker {self.number} is gone") from None

    def expect(self, key: str, deadline: float, what: str, timeout_s: float) -> Any:
        """The next message carrying `key`; BenchFailure on an error, an exit or the deadline."""
        while True:
            try:
                message = self.messages.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise BenchFailure(f"timed out after {timeout_s:g} s waiting for {what}") from None
            if "error" in message:
                raise BenchFailure(message["error"])
            if "exited" in message:
                raise BenchFailure(f"fleet worker {self.number} exited (status {message['exited']}) "
                                   f"while waiting for {what}")
            if key in message:
                return message[key]

    def check(self) -> None:
        """Raise BenchFailure if the worker reported an error or exited."""
        while True:
            try:
                message = self.messages.get_nowait()
            except queue.Empty:
                return
            if "error" in message:
                raise BenchFailure(message["error"])
            if "exited" in message:
                raise BenchFailure(f"fleet worker {self.number} exited (status {message['exited']})")

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.send(do="stop")
                self.process.wait(timeout=60)
            except (BenchFailure, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.log_file.close()


class Server:
    """`microvisor server --port 0` on a data folder; stderr goes to a file."""

    def __init__(self, data: Path, log_path: Path):
        self.data = data
        self.log_file = open(log_path, "wb")  # closed in stop()
        script = Path(sys.executable).with_name("microvisor")  # the venv's `microvisor` command
        program = [str(script)] if script.exists() else [sys.executable, "-m", "microvisor.cli.main"]
        command = [*program, "server", "--data", str(data), "--port", "0"]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self.log_file, text=True, preexec_fn=_die_with_parent)
        found: queue.Queue[str] = queue.Queue()

        def read() -> None:
            for line in self.process.stdout:
                if "listening on http://" in line:
                    found.put(line.split("listening on ", 1)[1].split()[0])
            found.put("")

        threading.Thread(target=read, daemon=True).start()
        try:
            self.url = found.get(timeout=SERVER_START_S)
        except queue.Empty:
            self.url = ""
        if not self.url:
            self.stop()
            said = [text.strip() for text in log_path.read_text(errors="replace").splitlines()]
            said = [text for text in said if text]
            reason = said[-1].rstrip(".") if said else f"it did not listen within {SERVER_START_S:g} s"
            raise BenchFailure(f"the server did not start ({reason})")
        saved = json.loads((data / "credentials.json").read_text())
        self.credentials = (saved["account_sid"], saved["auth_token"])

    def broker_pid(self) -> int | None:
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            return None
        for pid in children:
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "mosquitto":
                    return int(pid)
            except OSError:
                continue
        return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


def peak_mib(pid: int | None) -> float | None:
    """A process's peak resident set (VmHWM), MiB."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _utc(text: str) -> float:
    """A timestamp as the store writes it to SQLite (naive UTC) as Unix seconds."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


def _percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _spread(values: list[float]) -> dict[str, float]:
    return {"p50_s": round(_percentile(values, 0.5), 3), "p95_s": round(_percentile(values, 0.95), 3),
            "max_s": round(max(values), 3)}


class Fleet:
    """The run: server, workers, the three measurements."""

    def __init__(self, args: argparse.Namespace, image: bytes, root: Path):
        self.args = args
        self.image = image
        self.root = root
        self.server: Server | None = None
        self.workers: list[Worker] = []
        self.api: Any = None
        self.db: sqlite3.Connection | None = None

    def deadline(self) -> float:
        return time.monotonic() + self.args.timeout

    def expect_all(self, key: str, what: str) -> list[Any]:
        """Every worker's next message carrying `key`, within one phase timeout."""
        deadline = self.deadline()
        return [worker_.expect(key, deadline, what, self.args.timeout) for worker_ in self.workers]

    def check_processes(self) -> None:
        if self.server is not None and self.server.process.poll() is not None:
            raise BenchFailure(f"the server exited (status {self.server.process.returncode})")
        for worker_ in self.workers:
            worker_.check()

    def query(self, sql: str, *params: Any) -> list[tuple]:
        assert self.db is not None
        return self.db.execute(sql, params).fetchall()

    def devices(self) -> list[dict]:
        return list(self.api.pages("/v1/Devices", "devices", page_size=1000))

    def wait(self, done, what: str) -> None:
        """Poll done() until it is true, watching the server and workers; BenchFailure at the deadline."""
        deadline = self.deadline()
        while True:
            self.check_processes()
            state = done()
            if state is True:
                return
            if time.monotonic() > deadline:
                raise BenchFailure(f"timed out after {self.args.timeout:g} s waiting for {what} ({state})")
            time.sleep(POLL_S)

    def run(self) -> dict[str, Any]:
        args, n = self.args, self.args.devices
        load = os.getloadavg()[0]  # other work on this host skews every figure
        bundle = build_app(self.image).to_bytes()
        self.server = Server(self.root / "server", self.root / "server.log")
        self.api = ApiClient(self.server.url, *self.server.credentials, timeout=120)
        self.db = sqlite3.connect(f"file:{self.root / 'server' / DATABASE_FILE}?mode=ro", uri=True,
                                  timeout=30, isolation_level=None)  # each read sees the latest commit
        app = self.api.upload("/v1/Apps", "File", "fleet.zip", bundle, {"UniqueName": "fleet-app"})

        # Register, make and power on (ROM) every device: not measured.
        started = time.perf_counter()
        workers = min(args.workers, n)
        share = [n // workers + (i < n % workers) for i in range(workers)]
        (self.root / "devices").mkdir()
        for number in range(workers):
            self.workers.append(Worker(number, sum(share[:number]), share[number], self.server.url,
                                       self.server.credentials, self.root / "devices",
                                       self.root / f"worker-{number}.log"))
        self.expect_all("ready", "the workers to register their devices")
        setup_s = time.perf_counter() - started

        # Connect: every kernel starts (and its link connects) at once.
        go = time.time()
        for worker_ in self.workers:
            worker_.send(do="start")
        starts: dict[str, float] = {}
        for started_at in self.expect_all("started", "the kernels to start"):
            starts.update(started_at)
        self.wait(lambda: self._count("connected = 1", "connected"), f"{n} devices to connect")
        if sum(d["connection"]["connected"] for d in self.devices()) != n:
            raise BenchFailure("the REST API does not show every device connected")
        connected = self._first_events("connected")
        if len(connected) != n:
            raise BenchFailure(f"the service recorded {len(connected)} of {n} devices connected")
        connect = {"all_s": round(max(connected.values()) - go, 3),
                   **_spread([connected[sid] - starts[sid] for sid in connected]),
                   "kernel_starts_within_s": round(max(starts.values()) - go, 3)}

        # Logs: every device logs K lines at once.
        total = n * args.lines
        go = time.time()
        for worker_ in self.workers:
            worker_.send(do="log", lines=args.lines)
        self.wait(lambda: (count := self._log_count()) >= total or f"{count} of {total} lines stored",
                  f"{total} log lines to be stored")
        (last,) = self.query("SELECT max(date_created) FROM device_logs")[0]
        log_s = _utc(last) - go
        self._check_logs()
        logs = {"lines": total, "seconds": round(log_s, 3), "lines_per_s": round(total / log_s, 1)}

        # Update: target the app on every device, wait until all report it.
        sids = [device["sid"] for device in self.devices()]
        go = time.time()
        for sid in sids:
            self.api.post(f"/v1/Devices/{sid}", {"TargetApp": app["sid"]})
        requests_s = time.time() - go
        self.wait(self._updated, f"{n} devices to install the app")
        rows = self.devices()
        if not all(d["app"]["update_status"] == "up-to-date" and d["app"]["reported_sid"] == app["sid"]
                   for d in rows):
            raise BenchFailure("the REST API does not show every device up to date with the app")
        targeted, complete = self._first_events("app-targeted"), self._first_events("update-complete")
        if len(complete) != n:
            raise BenchFailure(f"the service recorded {len(complete)} of {n} updates complete")
        update = {"all_s": round(max(complete.values()) - go, 3),
                  **_spread([complete[sid] - targeted[sid] for sid in complete]),
                  "target_requests_s": round(requests_s, 3), "app_bytes": len(self.image)}

        memory = {"server_peak_mib": peak_mib(self.server.process.pid),
                  "broker_peak_mib": peak_mib(self.server.broker_pid())}
        return {"devices": n, "workers": workers, "cpus": os.cpu_count(),
                "load_1min_at_start": round(load, 2), "setup_s": round(setup_s, 1),
                "connect": connect, "logs": logs, "update": update, "memory": memory,
                "note": "devices: registered, real TLS identities and state folders, kernels booted by "
                        "the ROM on CPU-less HeadlessDevices in worker processes on the same host; "
                        "times from the service's own event and log timestamps, completion confirmed "
                        "through the REST API; memory: VmHWM"}

    def _first_events(self, kind: str) -> dict[str, float]:
        rows = self.query("SELECT d.sid, min(e.date_created) FROM device_events e JOIN devices d "
                          "ON d.id = e.device_id WHERE e.kind = ? GROUP BY d.sid", kind)
        return {sid: _utc(when) for sid, when in rows}

    def _count(self, condition: str, what: str) -> bool | str:
        """True when every device meets the SQL condition, else how many do."""
        count = self.query(f"SELECT count(*) FROM devices WHERE {condition}")[0][0]
        return count == self.args.devices or f"{count} of {self.args.devices} {what}"

    def _log_count(self) -> int:
        return self.query("SELECT count(*) FROM device_logs")[0][0]

    def _check_logs(self) -> None:
        """Each device's lines, complete and in order (read back through the REST API for one)."""
        rows = self.query("SELECT d.sid, count(l.id) FROM devices d LEFT JOIN device_logs l "
                          "ON l.device_id = d.id GROUP BY d.sid")
        short = [sid for sid, count in rows if count != self.args.lines]
        if short:
            raise BenchFailure(f"{len(short)} devices do not have exactly {self.args.lines} lines stored "
                               "(lines lost or stored twice)")
        sid = rows[0][0]
        texts = [line["text"] for line in self.api.pages(f"/v1/Devices/{sid}/Logs", "logs", page_size=1000)]
        if texts != [f"fleet {sid} line {i}" for i in range(self.args.lines)]:
            raise BenchFailure(f"device {sid}'s log lines came back wrong or out of order")

    def _updated(self) -> bool | str:
        failed = self.query("SELECT sid FROM devices WHERE update_status = 'error'")
        if failed:
            raise BenchFailure(f"{len(failed)} devices reported a failed update (e.g. {failed[0][0]})")
        return self._count("update_status = 'up-to-date' AND reported_hash = "
                           "(SELECT manifest_hash FROM apps WHERE id = target_app_id)", "up to date")

    def close(self) -> None:
        for worker_ in self.workers:
            worker_.stop()
        if self.db is not None:
            self.db.close()
        if self.api is not None:
            self.api.close()
        if self.server is not None:
            self.server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200, help="how many devices (default 200)")
    parser.add_argument("--lines", type=int, default=50, help="log lines per device (default 50)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes hosting the devices")
    parser.add_argument("--app", type=Path, default=DEFAULT_APP, help="the application ELF to update to")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds each phase may take")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.devices < 1 or args.workers < 1 or not 1 <= args.lines <= 1000:
        sys.exit("--devices and --workers must be at least 1 and --lines from 1 to 1000 "
                 "(the kernel buffers 1000 lines).")
    try:
        image = load_firmware(args.app).data
    except FirmwareError as exc:
        sys.exit(f"fleet benchmark failed: {str(exc).rstrip('.')} (build it with `make examples`, "
                 "or give --app).")
    root = Path(tempfile.mkdtemp(prefix="microvisor-fleet-"))
    fleet = Fleet(args, image, root)
    failure = None
    try:
        result = fleet.run()
    except BenchFailure as exc:
        failure = str(exc)
    except ApiError as exc:
        failure = f"the REST API refused a request: {exc}"
    except (sqlite3.Error, OSError) as exc:
        failure = f"{type(exc).__name__}: {exc}"
    except KeyboardInterrupt:
        failure = "interrupted"
    finally:
        fleet.close()
        if args.keep:
            pass
        elif failure is None:
            shutil.rmtree(root, ignore_errors=True)
        else:  # keep the logs, not hundreds of device folders
            shutil.rmtree(root / "devices", ignore_errors=True)
    if failure is not None:
        sys.exit(f"fleet benchmark failed: {failure.rstrip('.')} (logs in {root}).")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
