"""`make demo`: a server, two devices, blinky v1 then v2 over the air (a staged rollout), live logs, and the
bytes v2 took."""

from __future__ import annotations

import json
import re
import sys

import demo_kit
from demo_kit import DemoError, console, heading

DEVICE = re.compile(r"device (UV[0-9a-f]{32})")
SENT = re.compile(r"sent (layer|patch) (\w+) chunks \S+ to (UV[0-9a-f]{32}) \((\d+) bytes\)")
LAYER_SIZE = 8192  # the flash page: the smallest layer an update can fetch
LOG_LINES = 4  # live log lines shown after v1
UPDATE_TIMEOUT_S, LOG_TIMEOUT_S = 45, 20
SOAK_S = 3  # how long the first stage runs v2 before the second starts


class OverTheAirDemo(demo_kit.Demo):
    def story(self) -> None:
        v1_elf = self.examples / "blinky" / "blinky.elf"
        v2_elf = self.examples / "blinky_v2" / "blinky_v2.elf"
        for elf in (v1_elf, v2_elf):
            if not elf.is_file():
                raise DemoError(f"{elf} is missing; build the examples first (make examples).")

        heading("1. A server in a temporary folder")
        server, url, _, _ = self.start_server()

        heading("2. Two devices, registered with the server")
        sids = []
        for name in ("dev1", "dev2"):
            created = DEVICE.search(self.run("device", "create", name, "--server", url))
            if created is None:
                raise DemoError("`microvisor device create` did not name the device it made.")
            sids.append(created.group(1))

        heading("3. blinky v1, and v2 with one function changed")
        for version, elf in (("v1", v1_elf), ("v2", v2_elf)):
            self.run("apps", "bundle", str(elf), f"blinky-{version}.zip", "--unsigned",
                     "--layer-size", str(LAYER_SIZE))
            created = json.loads(self.run("apps", "create", f"blinky-{version}.zip", "--unique-name",
                                          f"blinky-{version}", "--json", show_output=False))
            console.print(f"  app {created['sid']} (blinky-{version})")

        heading("4. The devices power on; deploy v1")
        for number in (1, 2):
            self.start(f"device dev{number}", "device", "run", f"dev{number}")
        self.run("devices", "update", *sids, "--logging", "--target-app", "blinky-v1", "--wait",
                 "--wait-timeout", str(UPDATE_TIMEOUT_S))

        heading(f"5. Live logs from {sids[0]}")
        self.stream_logs(sids[0], LOG_LINES, "LED")

        heading("6. Roll v2 out in two stages: one device, then both once it has run v2 for 3 s")
        server_mark = len(server.errors)  # the server's log: what it sends from here on is for v2
        self.run("deployments", "create", "blinky-v2", "--devices", ",".join(sids), "--stages", "50,100",
                 "--soak", str(SOAK_S), "--halt-on-crash-rate", "0.5", "--wait")
        self.stream_logs(sids[1], 2, "(v2)")
        self.run("devices", "list")

        heading("7. What v2 cost, as a patch and as whole layers")
        inspected = {version: json.loads(self.run("apps", "inspect", f"blinky-{version}.zip", "--json",
                                                  show_output=False)) for version in ("v1", "v2")}
        full = sum(layer["bytes"] for layer in inspected["v2"]["layers"])
        old = {layer["fetch_hash"] for layer in inspected["v1"]["layers"]}
        changed = [layer for layer in inspected["v2"]["layers"] if layer["fetch_hash"] not in old]
        whole = sum(layer["bytes"] for layer in changed)
        sent: dict[str, dict[str, int]] = {}
        for kind, _, sid, count in SENT.findall("\n".join(server.errors[server_mark:])):
            sent.setdefault(sid, {}).setdefault(kind, 0)
            sent[sid][kind] += int(count)
        for sid in sids:
            if sid not in sent:
                raise DemoError(f"the server's log shows nothing sent to {sid} for v2.")
            how = " and ".join(f"{count:,} in {kind}es" if kind == "patch" else f"{count:,} in whole {kind}s"
                               for kind, count in sorted(sent[sid].items()))
            total = sum(sent[sid].values())
            console.print(f"  {sid}  v2: [bold]{total:,} bytes sent[/bold] of {full:,} (full image): {how}")
        console.print(f"  whole layers would have sent {whole:,} bytes ({len(changed)} of "
                      f"{len(inspected['v2']['layers'])} layer(s) changed)")
        console.print("  [dim](bytes sent: the server's own log of the chunks it published to each device; "
                      "a patch (detools) rebuilds a changed layer from the app the device runs, and the "
                      "manifest's hash checks the result)[/dim]")

    def stream_logs(self, sid: str, count: int, text: str) -> None:
        """`logs stream` until `count` lines containing `text` arrive; they are shown."""
        stream = self.start("the log stream", "logs", "stream", sid)

        def enough() -> list[str] | None:
            found = [line for line in stream.lines if text in line]
            return found[:count] if len(found) >= count else None

        try:
            lines = stream.wait_for(enough, LOG_TIMEOUT_S, f"{count} log lines with {text!r}")
        finally:
            self.stop(stream)
        for line in lines:
            console.print(f"  {line}", markup=False)


def main(argv: list[str] | None = None) -> int:
    return demo_kit.main(OverTheAirDemo, __doc__, argv, examples="blinky/ and blinky_v2/",
                         prefix="microvisor-demo-", stopped="the server and devices")


if __name__ == "__main__":
    sys.exit(main())
