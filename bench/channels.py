"""Channel benchmark: HTTP round trips through device -> link -> service -> an HTTPS server beside the
same request made directly with httpx, MQTT messages both ways, and the link's bytes per payload byte,
as one JSON document.

One run, everything on this host: a local HTTPS server (tests/link/web_server.py: a throwaway CA, a
certificate for api.example.test), a real `microvisor server` (its own Mosquitto; --allow-private-
destinations, --channel-ca, --resolve api.example.test:PORT:127.0.0.1) whose device link is reached
through a counting TCP relay of ours (--broker-public), a device made with `device create --server`
and run with `microvisor device run DIR` (paced, the default: virtual time never runs ahead of wall
time, as on hardware; with --fast the 10 ms sleeps after a RATELIMITED open would take no wall time and
the rate limit, counted in device time, would bite less than it does on a device), and the apps of
bench/channels deployed to it with `deploy --wait`. The HTTPS server's connections send at once
(TCP_NODELAY, socketserver's disable_nagle_algorithm), as production servers do: http.server writes a
response's head and body separately, and with Nagle each kept-alive response waited ~40 ms for the
client's delayed ACK, on the device's path and the direct one alike, hiding what the path costs.

- http.device: bench/channels/http_bench.c GETs /todos/1 (a small JSON body) N times in a row,
  each on an HTTP channel of its own, and writes a line on USART2 when a channel is open ("B i") and
  when its response has been read and the channel closed ("E i ..."). `device run` prints UART lines
  as they are written (flushed), and a thread of ours stamps each line with this host's monotonic clock
  as it arrives on the pipe: latency is E minus B (wall time; writing the E line, some forty emulated
  register accesses, is inside it), round_trips_per_s is N over the wall time from the app's "go" line
  to the last E line. The app's own clock (mvGetMicroseconds, virtual time) from open to close is
  printed beside it as device_clock_p50_ms. The microvisor allows 8 channel opens per second of device
  time: an open refused as RATELIMITED is retried after 10 ms of sleep (counted: rate_limited_opens),
  so round_trips_per_s includes those waits; busy_round_trips_per_s is N over the sum of the latencies
  (what the path would carry without the limit). device_time_per_wall_time_asleep is the app's quiet
  window (a SysTick sleep of --quiet-ms device time) over its wall time: below 1, the device's clock
  falls behind the wall clock while it sleeps on a 1 kHz tick, and the rate limit, counted in device
  time, holds it to fewer than 8 opens a wall second. server_arrivals_per_s comes from the HTTPS
  server's own arrival times of the device's requests, a cross-check of the rate; open_to_server_p50_ms
  (B to the request's arrival there) and server_to_closed_p50_ms (arrival to E) split the latency.
- http.direct_fresh / direct_kept_alive: the same GET from this process with httpx (one client, its
  TLS context made once), a new TCP+TLS connection per request (max_keepalive_connections=0) and one
  kept-alive connection (after one untimed request), each request timed with perf_counter. The
  service's relay keeps its own connections to the HTTPS server alive (one httpx client for every
  device), so the device path's HTTPS leg is the kept-alive kind.
- link_bytes: the relay counts the bytes each way of the device's MQTT-over-TLS link (TCP payload:
  TLS records, MQTT packets, JSON and base64; not TCP/IP headers) between the app's "go" and "done"
  lines (the quiet tail after the last request, where the last close goes up, included); payload is
  what the application handed over (method and URL) and read back (header lines and body);
  overhead_per_payload_byte = (link bytes - payload) / payload; link_bytes_per_exchange is the link's
  bytes per request (per message taken, for MQTT). idle_bytes is what the link carried
  in the equally long quiet window before "go" (keep-alives and the like, counted in nothing else).
  The same figures for the direct requests come from a second counting relay in front of the HTTPS
  server, in separate untimed loops (the timed ones run without it).
- mqtt: bench/channels/mqtt_bench.c on the same device, through a Mosquitto of the bench's own on a free
  port (plain TCP, anonymous; the service reaches it as mqtt.example.test through --resolve), MQTT 5,
  QoS 1 both ways, M messages of 32 bytes each way. device_to_broker: the app publishes M messages to
  mvbench/up keeping as many requests in flight as the microvisor allows (a RATELIMITED publish waits
  for an answer); messages_per_s is M over the wall time from its "up-go" line to the M-th arrival at a
  paho client of ours subscribed to mvbench/up (stamped in its on_message), acknowledged_per_s M over
  "up-go" to its "up-done" line (every publish answered: the broker's PUBACK back at the app). Each
  payload is checked (every number once, intact); the relay on the device's link stays in the path
  (a Python hop, well under a millisecond each way). broker_to_device: from the app's "down-ready" line
  a paho client of ours publishes M messages to mvbench/down (QoS 1, as fast as paho sends them);
  messages_per_s is the messages taken (mvMqttReceiveMessage, then acknowledged) over the wall time
  from the first publish call to the app's "down-done" line, which it writes when every message has
  been taken or reported lost (MESSAGELOST; taken and lost are printed); should 3 s pass with neither
  (neither > 0), that line comes late, and the rate is counted to the app's last progress line ("R n",
  every 50 messages taken) instead (null when there was none). direct: the same M messages from
  one paho client of ours to another through the same broker, first publish to last arrival. The app
  keeps SysTick at 1 kHz while it polls the channel (a notification just before its WFI costs at most
  a millisecond). Link bytes per direction as for HTTP: up_phase from "up-go" to "down-ready", down_phase
  from "down-ready" to "done", payload the messages' topic and payload bytes. Without MQTT channels in
  the tree (kernel/mqtt_channel.py, cloud/mqtt_bridge.py) or with --no-mqtt, mqtt is null and mqtt_note
  says why.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.link.web_server: the HTTPS server the link tests use

import httpx  # noqa: E402

from tests.link.web_server import HOST, TODO, WebServer, make_ca  # noqa: E402

from microvisor.common.api_client import ApiClient, ApiError  # noqa: E402

CLI = Path(sys.executable).with_name("microvisor")
SOURCES = ROOT / "bench" / "channels"
DEFAULT_BUILD = ROOT / "build" / "bench-channels"
TOOLCHAIN = ROOT / "sdk" / "cmake" / "arm-none-eabi.cmake"
RESOURCE = "/todos/1"
SERVER_START_S, STOP_S, COMMAND_S = 60.0, 15.0, 300.0
BYTE_SAMPLES = 20  # untimed direct requests of each kind through the counting relay
MQTT_HOST = "mqtt.example.test"  # the bench broker's name for the device; --resolve sends it to 127.0.0.1
UP_TOPIC, DOWN_TOPIC, PEER_TOPIC = "mvbench/up", "mvbench/down", "mvbench/peer"
MQTT_PAYLOAD = 32  # bytes of every message, both ways (mqtt_bench.c's PAYLOAD)
MQTT_PARTS = ("src/microvisor/kernel/mqtt_channel.py", "src/microvisor/cloud/mqtt_bridge.py")
UART = re.compile(r"^\[\s*[\d.]+\] USART2: (.*)$")
LISTENING = re.compile(r"listening on (http://\S+)")
SID = re.compile(r"(UV[0-9a-f]{32})")


class BenchFailure(Exception):
    """The benchmark cannot go on; str() is one sentence."""


def _die_with_parent() -> None:
    """In a child before exec: the kernel ends it when the bench dies, even by SIGKILL."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop(process: subprocess.Popen) -> None:
    """Ctrl-C, as a user would; killed if it does not end in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _spread_ms(seconds: list[float]) -> dict[str, float]:
    ms = [value * 1000 for value in seconds]
    return {"p50": round(statistics.median(ms), 2), "p90": round(_percentile(ms, 0.9), 2),
            "min": round(min(ms), 2), "max": round(max(ms), 2)}


# --- byte counting -------------------------------------------------------------------------------

class CountingRelay:
    """A TCP relay in front of a local port that counts the bytes each way (up: towards the target)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.up = self.down = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def snapshot(self) -> tuple[int, int, int]:
        """(bytes up, bytes down, connections accepted) so far."""
        with self._lock:
            return self.up, self.down, self.connections

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):  # forward small writes at once, as the ends do
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, up: bool) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                with self._lock:
                    if up:
                        self.up += len(data)
                    else:
                        self.down += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class Arrivals(list):
    """The web server's list of requests, each stamped with this host's clock as it is recorded."""

    def append(self, request: dict) -> None:
        super().append({**request, "at": time.perf_counter()})


# --- the device's output -------------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    """One USART2 line of the app: when it arrived (perf_counter), its text, the link's bytes then."""

    at: float
    text: str
    link: tuple[int, int, int]  # (bytes up, bytes down, connections) counted by the link's relay


class DeviceOutput:
    """`device run`'s standard output read by a thread: each USART2 line stamped on arrival, with the
    link relay's byte counts at that instant."""

    def __init__(self, process: subprocess.Popen, relay: CountingRelay, log_path: Path):
        self.process = process
        self.relay = relay
        self.lines: list[Line] = []
        self._log = open(log_path, "w")  # closed when the pipe ends
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in iter(self.process.stdout.readline, b""):
            at, link = time.perf_counter(), self.relay.snapshot()
            text = raw.decode("utf-8", "replace").rstrip("\n")
            self._log.write(text + "\n")
            match = UART.match(text)
            if match:
                with self._changed:
                    self.lines.append(Line(at, match.group(1), link))
                    self._changed.notify_all()
        self._log.close()
        with self._changed:
            self._changed.notify_all()

    def since(self, start: int) -> list[Line]:
        with self._changed:
            return self.lines[start:]

    def wait_for(self, text: str, start: int, timeout: float, failure: str, prefix: bool = False) -> Line:
        """The first line from index `start` on that is `text` (or starts with it); BenchFailure on a
        FAIL line, the process ending or the timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    if line.text == text or (prefix and line.text.startswith(text)):
                        return line
                    if line.text.startswith(failure):
                        raise BenchFailure(f"the application failed: {line.text}")
                if self.process.poll() is not None:
                    raise BenchFailure(f"`device run` ended (status {self.process.returncode}) before "
                                       f"{text!r}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchFailure(f"no {text!r} from the device within {timeout:g} s")
                self._changed.wait(min(left, 0.5))


# --- the bench's own MQTT broker and clients ----------------------------------------------------

class Mosquitto:
    """A Mosquitto of the bench's own on a free port of 127.0.0.1: plain TCP, anonymous, no limit on the
    messages it queues for a slow subscriber (the device's channel), small writes sent at once."""

    def __init__(self, folder: Path):
        self.port = _free_port()
        config = folder / "mosquitto.conf"
        config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                          "max_queued_messages 0\nset_tcp_nodelay true\n")
        self.log = open(folder / "mosquitto.log", "wb")
        self.process = subprocess.Popen(["mosquitto", "-c", str(config)], stdin=subprocess.DEVNULL,
                                        stdout=self.log, stderr=subprocess.STDOUT,
                                        preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise BenchFailure("the bench's Mosquitto did not start") from None
                time.sleep(0.05)

    def close(self) -> None:
        _stop(self.process)
        self.log.close()


class MqttClient:
    """A paho client of the bench on the bench's broker (its own network thread): what arrives on the
    topics it subscribes to is stamped with this host's clock."""

    def __init__(self, port: int, name: str, topic: str | None = None):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.arrivals: list[tuple[float, bytes]] = []
        self._changed = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(20)
        self.client.max_queued_messages_set(0)  # publish() queues without limit
        self.client.on_message = self._arrived
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port, keepalive=60)
        self.client.loop_start()
        if topic is not None:
            self.client.subscribe(topic, qos=1)
            if not subscribed.wait(10):
                raise BenchFailure(f"the bench's MQTT client could not subscribe to {topic}")

    def _arrived(self, client: Any, userdata: Any, message: Any) -> None:
        at = time.perf_counter()
        with self._changed:
            self.arrivals.append((at, bytes(message.payload)))
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.arrivals) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchFailure(f"{len(self.arrivals)} of {count} {what} within {timeout:g} s")
                self._changed.wait(min(left, 0.5))

    def publish_all(self, topic: str, count: int) -> None:
        for number in range(count):
            self.client.publish(topic, _mqtt_payload(number), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _mqtt_payload(number: int) -> bytes:
    """What mqtt_bench.c publishes: the number in 8 digits, then filler."""
    return (f"{number:08d}" + "".join(chr(ord("a") + i % 26) for i in range(8, MQTT_PAYLOAD))).encode()


def _mqtt_available() -> bool:
    return all((ROOT / part).exists() for part in MQTT_PARTS)


# --- the run -------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace, folder: Path):
        self.args = args
        self.folder = folder
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("MICROVISOR_")}
        self.env["XDG_CONFIG_HOME"] = str(folder / "config")  # leave the user's profile be
        self.processes: list[subprocess.Popen] = []
        self.closers: list[Any] = []
        self.web: WebServer | None = None
        self.ca: Path | None = None
        self.link: CountingRelay | None = None
        self.url = ""
        self.credentials = ("", "")
        self.output: DeviceOutput | None = None
        self.sid = ""
        self.broker: Mosquitto | None = None

    # --- helpers --------------------------------------------------------------------------------
    def cli(self, *args: str) -> str:
        try:
            done = subprocess.run([str(CLI), *args], capture_output=True, text=True, env=self.env,
                                  timeout=COMMAND_S, check=False)
        except subprocess.TimeoutExpired:
            raise BenchFailure(f"`microvisor {' '.join(args[:2])}` did not finish in {COMMAND_S:g} s") \
                from None
        if done.returncode != 0:
            said = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
            raise BenchFailure(f"`microvisor {' '.join(args[:2])}` failed: "
                               f"{said[-1] if said else done.returncode}")
        return done.stdout

    def api(self) -> ApiClient:
        return ApiClient(self.url, *self.credentials)

    def close(self) -> None:
        for process in reversed(self.processes):
            _stop(process)
        for closer in reversed(self.closers):
            closer()

    # --- setting up -----------------------------------------------------------------------------
    def build(self) -> Path:
        build = self.args.build
        configure = ["cmake", "-S", str(SOURCES), "-B", str(build), f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN}"]
        for command in (configure, ["cmake", "--build", str(build)]):
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BenchFailure(f"building bench/channels failed: {(done.stdout + done.stderr)[-400:]}")
        return build

    def start(self) -> None:
        """The HTTPS server, the bench's broker, the service behind the link's relay, and the device."""
        self.serve()
        self.power_on()

    def serve(self) -> None:
        self.ca, certificate, key = make_ca(self.folder)
        self.web = WebServer(certificate, key)
        self.web.requests = Arrivals()
        self.closers.append(self.web.close)
        broker_port = _free_port()
        self.link = CountingRelay(broker_port)
        self.closers.append(self.link.close)
        command = [str(CLI), "server", "--data", str(self.folder / "server"), "--port", "0",
                   "--log-level", "warning", "--broker-port", str(broker_port),
                   "--broker-public", f"127.0.0.1:{self.link.port}", "--allow-private-destinations",
                   "--channel-ca", str(self.ca), "--resolve", f"{HOST}:{self.web.port}:127.0.0.1"]
        if self.args.mqtt:
            self.broker = Mosquitto(self.folder)
            self.closers.append(self.broker.close)
            command += ["--resolve", f"{MQTT_HOST}:{self.broker.port}:127.0.0.1"]
        log = open(self.folder / "server.log", "wb")
        self.closers.append(log.close)
        server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                  text=True, env=self.env, preexec_fn=_die_with_parent)
        self.processes.append(server)
        found: list[str] = []
        ready = threading.Event()

        def read() -> None:
            for line in server.stdout:
                match = LISTENING.search(line)
                if match and not found:
                    found.append(match.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        ready.wait(SERVER_START_S)
        if not found:
            said = (self.folder / "server.log").read_text(errors="replace").strip().splitlines()
            raise BenchFailure(f"the server did not start ({said[-1] if said else 'no word'})")
        self.url = found[0]
        saved = json.loads((self.folder / "server" / "credentials.json").read_text())
        self.credentials = (saved["account_sid"], saved["auth_token"])
        self.env.update({"MICROVISOR_URL": self.url, "MICROVISOR_ACCOUNT_SID": self.credentials[0],
                         "MICROVISOR_AUTH_TOKEN": self.credentials[1]})

    def power_on(self) -> None:
        """A device registered with the service (`device create --server`), running (`device run`)."""
        assert self.link is not None
        created = self.cli("device", "create", str(self.folder / "device"), "--server", self.url)
        match = SID.search(created)
        if match is None:
            raise BenchFailure(f"`device create` named no device: {created.strip()[-200:]}")
        self.sid = match.group(1)
        device = subprocess.Popen([str(CLI), "device", "run", str(self.folder / "device")],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  env=self.env, preexec_fn=_die_with_parent)
        self.processes.append(device)
        self.output = DeviceOutput(device, self.link, self.folder / "device.log")

    def set_config(self, key: str, value: str) -> None:
        with self.api() as api:
            api.post("/v1/Configs", {"Key": key, "Value": value})

    def deploy(self, elf: Path, name: str) -> int:
        """Deploy an app and wait until the device runs it; the index its output lines start at."""
        assert self.output is not None
        start = len(self.output.since(0))
        self.cli("deploy", str(elf), "--device", self.sid, "--wait", "--wait-timeout", str(self.args.timeout))
        self.output.wait_for(f"{name}: ready", start, self.args.timeout, f"{name}: FAIL")
        return start

    # --- HTTP -----------------------------------------------------------------------------------
    def http(self, build: Path) -> dict[str, Any]:
        assert self.web is not None and self.output is not None
        n, quiet_ms = self.args.requests, self.args.quiet_ms
        device_url = f"https://{HOST}:{self.web.port}{RESOURCE}"
        self.set_config("bench-http", f"{n} {quiet_ms} {device_url}")
        start = self.deploy(build / "http_bench.elf", "http-bench")
        timeout = self.args.timeout + n  # a second a request at worst, beyond the phase's time
        done = self.output.wait_for("http-bench: done", start, timeout, "http-bench: FAIL")
        lines = self.output.since(start)
        marks = {line.text: line for line in lines if line.text.startswith("http-bench: ")}
        ready, go = marks["http-bench: ready"], marks["http-bench: go"]
        opened: dict[int, Line] = {}
        closed: dict[int, Line] = {}
        latencies, device_clock, refused = [], [], 0
        payload_up = payload_down = 0
        last = go
        for line in lines:
            words = line.text.split()
            if words[:1] == ["B"]:
                opened[int(words[1])] = line
            elif words[:1] == ["E"]:
                number, status, up, down, refusals, micros = (int(word) for word in words[1:7])
                if status != 200 or number not in opened:
                    raise BenchFailure(f"request {number} answered {status} (or was never opened)")
                closed[number] = line
                latencies.append(line.at - opened[number].at)
                device_clock.append(micros / 1e6)
                payload_up, payload_down = payload_up + up, payload_down + down
                refused += refusals
                last = line
        if len(latencies) != n:
            raise BenchFailure(f"{len(latencies)} of {n} requests completed")
        arrivals = [r["at"] for r in self.web.requests if go.at <= r["at"] <= done.at]
        if len(arrivals) != n:
            raise BenchFailure(f"the HTTPS server saw {len(arrivals)} of the device's {n} requests")
        # One request at a time: the server's k-th arrival is request k, between its B and E lines.
        to_server = [arrivals[k] - opened[k].at for k in range(n)]
        from_server = [closed[k].at - arrivals[k] for k in range(n)]
        if min(to_server) < 0 or min(from_server) < 0:
            raise BenchFailure("the HTTPS server's arrivals do not fall between the requests' lines")
        spread = arrivals[-1] - arrivals[0]
        device = {"round_trips_per_s": round(n / (last.at - go.at), 2),
                  "busy_round_trips_per_s": round(n / sum(latencies), 2),
                  "server_arrivals_per_s": round((n - 1) / spread, 2) if n > 1 else None,
                  "latency_ms": _spread_ms(latencies),
                  "open_to_server_p50_ms": round(statistics.median(to_server) * 1000, 2),
                  "server_to_closed_p50_ms": round(statistics.median(from_server) * 1000, 2),
                  "device_clock_p50_ms": round(statistics.median(device_clock) * 1000, 2),
                  "device_time_per_wall_time_asleep": round(quiet_ms / 1000 / (go.at - ready.at), 2),
                  "rate_limited_opens": refused}
        link = _link_figures(ready, go, done, payload_up, payload_down, n)

        fresh, kept = self.direct(n)
        fresh_bytes, kept_bytes = self.direct_bytes(min(n, BYTE_SAMPLES))
        link["direct_fresh_overhead_per_payload_byte"] = fresh_bytes
        link["direct_kept_alive_overhead_per_payload_byte"] = kept_bytes
        p50 = device["latency_ms"]["p50"]
        return {"requests": n, "resource_bytes": len(json.dumps(TODO).encode()), "device": device,
                "direct_fresh": fresh, "direct_kept_alive": kept,
                "device_vs_direct_fresh_latency": round(p50 / fresh["latency_ms"]["p50"], 1),
                "device_vs_direct_kept_alive_latency": round(p50 / kept["latency_ms"]["p50"], 1),
                "link_bytes": link}

    def _client(self, fresh: bool) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.ca))
        limits = httpx.Limits(max_keepalive_connections=0) if fresh else httpx.Limits()
        return httpx.Client(verify=context, limits=limits, trust_env=False, timeout=10)

    def _get(self, client: httpx.Client, port: int) -> tuple[int, int]:
        """One GET of the resource as the device names it, sent to 127.0.0.1:port; (payload up, down)."""
        assert self.web is not None
        response = client.get(f"https://127.0.0.1:{port}{RESOURCE}",
                              headers={"Host": f"{HOST}:{self.web.port}"}, extensions={"sni_hostname": HOST})
        if response.status_code != 200:
            raise BenchFailure(f"a direct request answered {response.status_code}")
        down = sum(len(name) + 2 + len(value) for name, value in response.headers.raw) + len(response.content)
        return len("GET") + len(f"https://{HOST}:{self.web.port}{RESOURCE}"), down

    def direct(self, n: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """The device's request made by this process with httpx: a new connection each time, then one
        kept-alive connection (warmed by one untimed request)."""
        assert self.web is not None
        figures = []
        for fresh in (True, False):
            with self._client(fresh) as client:
                if not fresh:
                    self._get(client, self.web.port)
                times = []
                started = time.perf_counter()
                for _ in range(n):
                    begun = time.perf_counter()
                    self._get(client, self.web.port)
                    times.append(time.perf_counter() - begun)
                total = time.perf_counter() - started
            figures.append({"round_trips_per_s": round(n / total, 1), "latency_ms": _spread_ms(times)})
        return figures[0], figures[1]

    def direct_bytes(self, n: int) -> tuple[float, float]:
        """Bytes on the wire per payload byte of direct requests, through a counting relay (untimed)."""
        assert self.web is not None
        relay = CountingRelay(self.web.port)
        try:
            ratios = []
            for fresh in (True, False):
                with self._client(fresh) as client:
                    if not fresh:
                        self._get(client, relay.port)
                    before = relay.snapshot()[:2]
                    payload = 0
                    for _ in range(n):
                        up, down = self._get(client, relay.port)
                        payload += up + down
                    time.sleep(0.1)  # the last close_notify and FIN pass the relay
                    after = relay.snapshot()[:2]
                wire = after[0] - before[0] + after[1] - before[1]
                ratios.append(round((wire - payload) / payload, 2))
            return ratios[0], ratios[1]
        finally:
            relay.close()

    # --- MQTT -----------------------------------------------------------------------------------
    def mqtt(self, build: Path) -> dict[str, Any]:
        assert self.broker is not None and self.output is not None
        m, quiet_ms = self.args.messages, self.args.quiet_ms
        listener = MqttClient(self.broker.port, "mvbench-listener", UP_TOPIC)
        self.closers.append(listener.close)
        publisher = MqttClient(self.broker.port, "mvbench-publisher")
        self.closers.append(publisher.close)
        self.set_config("bench-mqtt", f"{m} {quiet_ms} {self.broker.port} {MQTT_HOST}")
        start = self.deploy(build / "mqtt_bench.elf", "mqtt-bench")
        timeout = self.args.timeout + m / 10  # ten messages a second at worst, beyond the phase's time
        up_done = self.output.wait_for("mqtt-bench: up-done", start, timeout, "mqtt-bench: FAIL")
        listener.wait_for(m, self.args.timeout, "messages from the device")
        down_ready = self.output.wait_for("mqtt-bench: down-ready", start, timeout, "mqtt-bench: FAIL")
        published = time.perf_counter()
        publisher.publish_all(DOWN_TOPIC, m)
        down_done = self.output.wait_for("mqtt-bench: down-done ", start, timeout, "mqtt-bench: FAIL",
                                         prefix=True)
        done = self.output.wait_for("mqtt-bench: done", start, timeout, "mqtt-bench: FAIL")
        lines = self.output.since(start)
        marks = {line.text: line for line in lines if line.text.startswith("mqtt-bench: ")}
        ready, up_go = marks["mqtt-bench: ready"], marks["mqtt-bench: up-go"]

        arrivals = listener.arrivals[:m]
        payloads = sorted(payload for _, payload in arrivals)
        if payloads != [_mqtt_payload(number) for number in range(m)]:
            raise BenchFailure("the device's messages did not all arrive once and intact")
        taken, lost, received_bytes, ended_quiet = (int(word) for word in down_done.text.split()[2:6])
        if received_bytes != taken * (len(DOWN_TOPIC) + MQTT_PAYLOAD) or taken + lost > m or not taken:
            raise BenchFailure(f"the device's account of the messages it took is wrong: {down_done.text}")
        last_up = arrivals[-1][0]
        up = {"messages_per_s": round(m / (last_up - up_go.at), 1),
              "acknowledged_per_s": round(m / (up_done.at - up_go.at), 1),
              "first_message_ms": round((arrivals[0][0] - up_go.at) * 1000, 2)}
        # Ended by 3 s of quiet (messages neither delivered nor reported lost), the done line came late:
        # the rate is counted to the last progress line instead.
        last_taken, last_at = taken, down_done.at
        if ended_quiet:
            progress = [line for line in lines if line.at >= down_ready.at and line.text.startswith("R ")]
            last_taken, last_at = (int(progress[-1].text.split()[1]), progress[-1].at) if progress else (0, 0)
        down = {"messages_per_s": round(last_taken / (last_at - published), 1) if last_taken else None,
                "taken": taken, "lost": lost, "neither": m - taken - lost,
                "ended_by_quiet": bool(ended_quiet)}
        direct = self.mqtt_direct(m)
        up_payload = m * (len(UP_TOPIC) + MQTT_PAYLOAD)
        return {"messages": m, "payload_bytes": MQTT_PAYLOAD, "qos": 1,
                "device_to_broker": up, "broker_to_device": down, "direct": direct,
                "device_vs_direct_up": round(up["messages_per_s"] / direct["messages_per_s"], 3),
                "device_vs_direct_down": None if down["messages_per_s"] is None else
                round(down["messages_per_s"] / direct["messages_per_s"], 3),
                "link_bytes": {"up_phase": _link_figures(ready, up_go, down_ready, up_payload, 0, m),
                               "down_phase": _link_figures(ready, up_go, done, 0, received_bytes, taken,
                                                           start=down_ready)}}

    def mqtt_direct(self, m: int) -> dict[str, float]:
        """The same messages from one paho client of this process to another, through the same broker."""
        assert self.broker is not None
        listener = MqttClient(self.broker.port, "mvbench-peer-listener", PEER_TOPIC)
        publisher = MqttClient(self.broker.port, "mvbench-peer-publisher")
        try:
            started = time.perf_counter()
            publisher.publish_all(PEER_TOPIC, m)
            listener.wait_for(m, self.args.timeout, "messages between the bench's clients")
            return {"messages_per_s": round(m / (listener.arrivals[m - 1][0] - started), 1)}
        finally:
            publisher.close()
            listener.close()

    # --- the whole run --------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        load = os.getloadavg()[0]
        started = time.perf_counter()
        build = self.build()
        self.start()
        http = self.http(build)
        mqtt, mqtt_note = None, "not measured: MQTT channels not available"
        if self.args.no_mqtt:
            mqtt_note = "not measured: --no-mqtt"
        elif self.args.mqtt:
            mqtt, mqtt_note = self.mqtt(build), None
        return {"http": http, "mqtt": mqtt, "mqtt_note": mqtt_note,
                "device_run": "paced (the default)", "cpus": os.cpu_count(),
                "load_1min_at_start": round(load, 2), "seconds": round(time.perf_counter() - started, 1),
                "method": METHOD}


METHOD = ("server, brokers, device, HTTPS server and bench on this host; `device run` paced; wall times "
          "from the app's USART2 lines as stamped on arrival from `device run`'s output (HTTP latency: B, "
          "channel open, to E, response read and channel closed; round_trips_per_s: N over 'go' to the last "
          "E, rate-limit waits included), from the HTTPS server's arrivals and from a paho client's "
          "on_message (MQTT); direct: httpx and paho from the bench on the same servers; link bytes: a "
          "counting TCP relay on the device's MQTT/TLS link (TCP payload); payload: method+URL up, header "
          "lines+body down (HTTP), topic+payload (MQTT); see bench/channels.py's docstring")


def _link_figures(ready: Line, go: Line, done: Line, payload_up: int, payload_down: int,
                  exchanges: int, start: Line | None = None) -> dict[str, Any]:
    """Link bytes from `start` (the go line) to the done line against the application's payload; idle:
    the link's bytes from the ready line to the go line, a window with nothing sent."""
    first = start or go
    if ready.link[2] != done.link[2]:
        raise BenchFailure("the device's link connected again during a measurement")
    up, down = done.link[0] - first.link[0], done.link[1] - first.link[1]
    payload = payload_up + payload_down
    return {"up": up, "down": down, "payload_up": payload_up, "payload_down": payload_down,
            "link_bytes_per_exchange": round((up + down) / exchanges),
            "overhead_per_payload_byte": round((up + down - payload) / payload, 2),
            "idle_bytes": go.link[0] - ready.link[0] + go.link[1] - ready.link[1],
            "idle_window_s": round(go.at - ready.at, 2)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="HTTP requests of each kind (default 100)")
    parser.add_argument("--messages", type=int, default=500, help="MQTT messages each way (default 500)")
    parser.add_argument("--quiet-ms", type=int, default=1000,
                        help="the app's quiet windows before and after its requests (default 1000)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a phase may wait (default 120)")
    parser.add_argument("--build", type=Path, default=DEFAULT_BUILD, help="where to build bench/channels")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--no-mqtt", action="store_true", help="leave the MQTT figures out")
    args = parser.parse_args()
    args.mqtt = not args.no_mqtt and _mqtt_available()
    if not 1 <= args.requests <= 10000 or not 1 <= args.messages <= 100000 or \
            not 100 <= args.quiet_ms <= 60000 or not 0 < args.timeout <= 3600:
        sys.exit("--requests must be 1 to 10000, --messages 1 to 100000, --quiet-ms 100 to 60000 and "
                 "--timeout above 0 and at most 3600.")
    if shutil.which("arm-none-eabi-gcc") is None or not CLI.exists():
        sys.exit("bench/channels.py needs arm-none-eabi-gcc and the venv's microvisor command (make setup).")
    folder = Path(tempfile.mkdtemp(prefix="microvisor-channels-"))
    bench = Bench(args, folder)
    failure = None
    try:
        result = bench.run()
    except BenchFailure as exc:
        failure = str(exc)
    except (ApiError, OSError, httpx.HTTPError) as exc:
        failure = f"{type(exc).__name__}: {exc}"
    except KeyboardInterrupt:
        failure = "interrupted"
    finally:
        bench.close()
    if failure is not None:
        sys.exit(f"bench/channels.py failed: {failure.rstrip('.')} (logs in {folder}).")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
