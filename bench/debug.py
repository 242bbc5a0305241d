"""Remote-debugging benchmark: a GDB memory read through the service beside the same read on a local
`device run --gdb`, and gdb's time to a first breakpoint both ways, as one JSON line.

Starts `microvisor server` in a temporary folder (bench/fleet.py's Server), creates a device with
`device create --server`, powers it on (`device run`), deploys blinky with a debug key (`deploy
--debug-key --wait`) and serves it with `devices debug --port 0`. Locally, `device run blinky.elf
--gdb 0` on the same host.

- read_ms: the median of READS round trips of the remote-protocol packet `m20000000,4` (four bytes
  of SRAM), from writing the packet to reading the stub's whole answer, on a connection of our own
  (acknowledgements on, as GDB starts), the core halted; `relay` through `devices debug`, the
  service and the device's link, `local` on the device's own GDB port. Both on this host: the relay's
  figure is its own cost (two HTTP requests' worth of work in the service, MQTT both ways, signing and
  encryption), not a network's.
- first_break_s: wall time of `gdb-multiarch -batch` from its start to its exit, with `target
  extended-remote`, `break led_toggle`, `continue` (loading the ELF's symbols, connecting, the
  breakpoint hit) and `detach`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fleet import BenchFailure, Server

from microvisor.common import keys

ROOT = Path(__file__).resolve().parents[1]
BLINKY = ROOT / "build" / "examples" / "blinky" / "blinky.elf"
CLI = Path(sys.executable).with_name("microvisor")
READS = 50
PORT_LINE = re.compile(r"127\.0\.0\.1:(\d+)")


class Rsp:
    """A GDB remote-protocol connection of our own, acknowledgements on."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def ask(self, body: bytes) -> bytes:
        self.sock.sendall(b"$" + body + b"#" + f"{sum(body) & 0xFF:02x}".encode())
        while not re.search(rb"\$[^#]*#[0-9a-f]{2}", self.buffer):
            data = self.sock.recv(65536)
            if not data:
                raise BenchFailure("the GDB server closed the connection")
            self.buffer += data
        match = re.search(rb"\$([^#]*)#[0-9a-f]{2}", self.buffer)
        self.buffer = self.buffer[match.end():]
        self.sock.sendall(b"+")
        return match.group(1)

    def close(self) -> None:
        try:
            self.ask(b"D")
        except (OSError, BenchFailure):
            pass
        self.sock.close()


def read_times(port: int) -> list[float]:
    """READS round trips of a four-byte memory read, in milliseconds."""
    rsp = Rsp(port)
    try:
        rsp.ask(b"?")  # connecting halted the core; its stop reply
        times = []
        for _ in range(READS):
            started = time.perf_counter()
            if len(rsp.ask(b"m20000000,4")) != 8:
                raise BenchFailure("a memory read did not answer four bytes")
            times.append((time.perf_counter() - started) * 1000)
        return times
    finally:
        rsp.close()


def first_break(port: int) -> float:
    started = time.perf_counter()
    result = subprocess.run(["gdb-multiarch", "-q", "-batch", "-nx", "-ex", "set confirm off",
                             "-ex", f"target extended-remote 127.0.0.1:{port}", "-ex", "break led_toggle",
                             "-ex", "continue", "-ex", "delete", "-ex", "detach", str(BLINKY)],
                            capture_output=True, text=True, timeout=300, check=False)
    seconds = time.perf_counter() - started
    if "Breakpoint 1, " not in result.stdout:
        raise BenchFailure(f"gdb did not reach the breakpoint: {result.stdout[-500:]}{result.stderr[-500:]}")
    return seconds


def port_of(process: subprocess.Popen, log: Path, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = PORT_LINE.search(log.read_text(errors="replace"))
        if match:
            return int(match.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise BenchFailure(f"no GDB port: {log.read_text(errors='replace')[-500:]}")


def run(cli_env: dict[str, str], *args: str) -> str:
    result = subprocess.run([str(CLI), *args], capture_output=True, text=True, env=cli_env, timeout=300,
                            check=False)
    if result.returncode != 0:
        raise BenchFailure(f"microvisor {' '.join(args)}: {result.stderr.strip()[-300:]}")
    return result.stdout


def main() -> None:
    if shutil.which("gdb-multiarch") is None or not BLINKY.exists():
        sys.exit("bench/debug.py needs gdb-multiarch and the built examples (make examples)")
    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="bench-debug-") as name:
        folder = Path(name)
        server = Server(folder / "server", folder / "server.log")
        try:
            sid_, token = server.credentials
            env = {**os.environ, "MICROVISOR_URL": server.url, "MICROVISOR_ACCOUNT_SID": sid_,
                   "MICROVISOR_AUTH_TOKEN": token, "XDG_CONFIG_HOME": str(folder / "config")}
            created = run(env, "device", "create", str(folder / "dev"), "--server", server.url)
            sid = re.search(r"(UV[0-9a-f]{32})", created).group(1)
            device_log = folder / "device.log"
            with device_log.open("w") as sink:
                processes.append(subprocess.Popen([str(CLI), "device", "run", str(folder / "dev")], env=env,
                                                  stdout=sink, stderr=subprocess.STDOUT))
            private, public = keys.save_pair(folder / "debug.pem", keys.generate())
            run(env, "deploy", str(BLINKY), "--device", sid, "--debug-key", str(public), "--wait")
            relay_log = folder / "relay.log"
            with relay_log.open("w") as sink:
                command = [str(CLI), "devices", "debug", sid, "--key", str(private), "--port", "0"]
                processes.append(subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT))
            relay_port = port_of(processes[-1], relay_log)
            relay = read_times(relay_port)
            relay_break = first_break(relay_port)
            local_log = folder / "local.log"
            with local_log.open("w") as sink:
                processes.append(subprocess.Popen([str(CLI), "device", "run", str(BLINKY), "--gdb", "0",
                                                   "--timeout", "3600"], env=env, stdout=sink,
                                                  stderr=subprocess.STDOUT))
            local_port = port_of(processes[-1], local_log)
            local = read_times(local_port)
            local_break = first_break(local_port)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        process.kill()
            server.stop()
    relay_ms, local_ms = statistics.median(relay), statistics.median(local)
    print(json.dumps({
        "read_ms": {"relay": round(relay_ms, 2), "local": round(local_ms, 3)},
        "relay_vs_local": round(relay_ms / local_ms, 1),
        "read_p90_ms": {"relay": round(statistics.quantiles(relay, n=10)[-1], 2),
                        "local": round(statistics.quantiles(local, n=10)[-1], 3)},
        "first_break_s": {"relay": round(relay_break, 2), "local": round(local_break, 2)},
        "note": f"median of {READS} reads of 4 bytes, core halted, server, device and GDB on this host; "
                "first_break_s: gdb-multiarch -batch from start to exit (symbols, connect, break, continue, "
                "hit, detach)",
    }))


if __name__ == "__main__":
    try:
        main()
    except BenchFailure as exc:
        sys.exit(f"bench/debug.py: {exc}")
