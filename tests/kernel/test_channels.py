"""The channel mechanism, driven by a C application; the host plays the link and the service's relay."""

from __future__ import annotations

import base64
import re

from microvisor.common.mv_abi import MvClosureReason


def test_channels_behave_as_published(kernel_apps, device_run):
    sent: list[dict] = []

    def relay_says(run, message: dict) -> None:
        number = next(m["ch"] for m in reversed(sent) if m["op"] == "open")
        run.kernel.channels.receive({**message, "ch": number})

    def data(seq: int, payload: bytes) -> dict:
        return {"op": "data", "seq": seq, "data": base64.b64encode(payload).decode()}

    def on_line(run, text: str) -> None:
        kernel = run.kernel
        if text == "chan: up":
            kernel.channels.send = lambda message: sent.append(message) or True
            kernel.network.configured = True
            kernel.link.up, kernel.link.relay = True, "r1"
            kernel.network.link_changed(True)
        elif text.startswith("chan: credit "):
            relay_says(run, {"op": "credit", "bytes": int(text.split()[-1])})
        elif text == "chan: data":
            relay_says(run, data(0, b"a" * 800))
        elif text == "chan: data2":
            relay_says(run, data(1, b"b" * 400))  # 224 bytes to the ring's end, 176 from its start
        elif text == "chan: close":
            relay_says(run, {"op": "closed", "reason": "server"})
        elif text == "chan: down":
            kernel.link._link_down()

    run = device_run(kernel_apps / "channels" / "channels.elf", on_line=on_line)
    run.run()
    assert run.failures() == []
    assert re.fullmatch(r"DONE pass=\d+ fail=0", run.lines[-1])
    opens = [m for m in sent if m["op"] == "open"]
    assert opens[0] == {"op": "open", "ch": opens[0]["ch"], "type": "opaque", "endpoint": "console",
                        "window": 1024}
    first = opens[0]["ch"]
    up = [m for m in sent if m["op"] == "data" and m["ch"] == first]
    assert [m["seq"] for m in up] == list(range(len(up)))  # numbered in order
    assert b"".join(base64.b64decode(m["data"]) for m in up) == b"hello!" + b"x" * 506 + b"x" * 300
    credits = [m["bytes"] for m in sent if m["op"] == "credit" and m["ch"] == first]
    assert credits == [600, 424, 176]  # what the application consumed, given back to the relay
    assert {"op": "close", "ch": first} not in sent  # the server closed it: nothing to say
    assert len({m["ch"] for m in opens}) == len(opens)  # a channel's number is never reused
    assert int(MvClosureReason.NETWORKDISCONNECTED) == 3
