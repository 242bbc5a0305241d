"""`microvisor console`: a device's console through the service, the application's opaque-bytes channel
with the endpoint "console" (sdk/examples/console).

What the application writes comes from `GET …/Console/Stream` (server-sent events) and is printed as it
comes; each line read from stdin is sent with its "\\n" by `POST …/Console`. The stream is open before
anything is sent, so no answer is missed. At a terminal, the device's control characters are shown, not
obeyed (a device must not drive the user's terminal), unless --raw; into a pipe its bytes go as they
came.
"""

from __future__ import annotations

import base64
import codecs
import os
import select
import sys
import threading
import time
from typing import TYPE_CHECKING, BinaryIO

import typer

from ..common.api_client import ApiError, api_path
from . import params
from .credentials import client
from .output import err, fail

if TYPE_CHECKING:
    from ..common.api_client import ApiClient

MAX_POST = 16 * 1024  # bytes of one POST …/Console (the service's limit)
READ_SIZE = 64 * 1024  # bytes of stdin read at once
OPEN_TIMEOUT = 20.0  # seconds for the service to open the stream


def console(
    device: str = params.argument(params.NAME, metavar="DEVICE", help="Device SID or unique name."),
    server: str | None = params.option(None, "--server", type=params.SERVICE_URL, metavar="URL",
                                       help="The service (default: MICROVISOR_URL or the `login` profile, "
                                            "where the account's credentials come from too)."),
    timeout: float | None = params.option(None, "--timeout", type=params.Seconds(positive=True), metavar="S",
                                          help="End after S seconds, whatever else happens."),
    quiet: float = params.option(2.0, "--quiet", type=params.Seconds(positive=True), metavar="S",
                                 help="Input that is not a terminal: once it has ended and all of it was "
                                      "sent, end when the device has written nothing for S seconds."),
    raw: bool = typer.Option(False, "--raw", help="Write the device's bytes to a terminal as they came "
                                                  "(default: its control characters are shown as ^X)."),
) -> None:
    """Talk to a device's application over its console: what it writes appears as it comes, each line
    you type is sent to it (with "\\n"). Ctrl-D or Ctrl-C ends. With input from a pipe or a file, its
    lines are sent and the output printed until the input has ended and the device is quiet (--quiet),
    or --timeout. The application must open an opaque channel with the endpoint "console" (the SDK's
    console example does); what is typed while it has none open is dropped."""
    interactive = sys.stdin is not None and sys.stdin.isatty()
    deadline = None if timeout is None else time.monotonic() + timeout
    with client(server) as api, client(server) as stream:
        try:
            row = api.get(api_path("v1", "Devices", device))
        except ApiError as exc:
            if exc.status == 404:
                raise fail(f"the service knows no device {device} in this account.", 1) from None
            raise fail(str(exc), 1) from None
        sid = str(row.get("sid", device))
        output = _Output(sys.stdout.buffer, escape=sys.stdout.isatty() and not raw)
        follower = _Follower(stream, sid, output)
        follower.start()
        try:
            wait = OPEN_TIMEOUT if deadline is None else min(OPEN_TIMEOUT, deadline - time.monotonic())
            if not follower.opened.wait(wait) or follower.failure is not None:
                raise fail(follower.failure or "the service did not open the device's console stream.", 1)
            if not (row.get("connection") or {}).get("connected"):
                err.print(f"note: {sid} is not connected; what is typed is dropped until its application "
                          "opens its console.", soft_wrap=True)
            if interactive:
                err.print(f"console of {sid}: each line typed is sent; Ctrl-D or Ctrl-C ends.",
                          soft_wrap=True)
            _converse(api, sid, follower, interactive, deadline, quiet)
        except KeyboardInterrupt:
            pass
        finally:
            follower.done.set()


def _converse(api: ApiClient, sid: str, follower: _Follower, interactive: bool, deadline: float | None,
              quiet: float) -> None:
    """Send stdin's lines until it ends (then, unless interactive, wait for the device to be quiet), the
    deadline passes or the stream breaks. Stdin is read here, a descriptor's read at a time (select, no
    reading thread: one blocked in a buffered read would hold the buffer's lock at exit)."""
    descriptor = sys.stdin.fileno() if sys.stdin is not None else None
    pending = b""  # the start of a line not yet ended
    ended_at: float | None = None if descriptor is not None else time.monotonic()
    while True:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return
        if follower.failure is not None:
            raise fail(follower.failure, 1)
        if ended_at is not None:
            if interactive or now - max(ended_at, follower.last_output) >= quiet:
                return
            time.sleep(0.05)
            continue
        if not select.select([descriptor], [], [], 0.1)[0]:
            continue
        try:
            chunk = os.read(descriptor, READ_SIZE)
        except OSError as exc:
            raise fail(f"cannot read the input: {exc.strerror or exc}", 1) from None
        if not chunk:  # the end of the input: a last line without its "\n" gets one
            ended_at = time.monotonic()
            chunk = b"\n" if pending else b""
        pending += chunk
        lines, newline, pending = pending.rpartition(b"\n")
        whole = lines + newline  # every line read so far, in one POST (more when it is over the limit)
        if len(pending) >= MAX_POST:  # a line longer than a POST goes in pieces, not all at its end
            whole, pending = whole + pending, b""
        for start in range(0, len(whole), MAX_POST):
            _send(api, sid, whole[start : start + MAX_POST])


def _send(api: ApiClient, sid: str, data: bytes) -> None:
    try:
        api.request("POST", api_path("v1", "Devices", sid, "Console"), content=data,
                    headers={"Content-Type": "application/octet-stream"})
    except ApiError as exc:
        raise fail(f"cannot send to the console: {exc}", 1) from None


class _Output:
    """Writes what the device wrote: raw, or (to a terminal) with its control characters shown as ^X."""

    KEPT = "\n\r\t"

    def __init__(self, sink: BinaryIO, escape: bool):
        self.sink, self.escape = sink, escape
        self.encoding = sys.stdout.encoding or "utf-8"
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data: bytes) -> None:
        if self.escape:
            text = "".join(self._shown(c) for c in self._decoder.decode(data))
            data = text.encode(self.encoding, "replace")
        self.sink.write(data)
        self.sink.flush()

    def _shown(self, char: str) -> str:
        code = ord(char)
        if char in self.KEPT or (code >= 0x20 and code != 0x7F and not 0x80 <= code <= 0x9F):
            return char
        return "^?" if code == 0x7F else f"^{chr(code + 0x40)}" if code < 0x20 else f"\\x{code:02x}"


class _Follower(threading.Thread):
    """Reads the console stream, printing each piece of output; records why it ended if it did."""

    def __init__(self, api: ApiClient, sid: str, output: _Output):
        super().__init__(name="console-output", daemon=True)
        self.api, self.sid, self.output = api, sid, output
        self.opened, self.done = threading.Event(), threading.Event()
        self.failure: str | None = None
        self.last_output = 0.0  # time.monotonic() of the last piece

    def run(self) -> None:
        path = api_path("v1", "Devices", self.sid, "Console", "Stream")
        try:
            for name, data in self.api.events(path, on_open=self.opened.set):
                if name == "console":
                    self.output.write(base64.b64decode(str(data.get("payload", "")), validate=True))
                    self.last_output = time.monotonic()
            reason = "the service ended the console stream."
        except (ApiError, ValueError, RuntimeError) as exc:  # ValueError: a payload that is not base64;
            reason = f"the console stream broke: {exc}"  # RuntimeError: the client closed as the command ends
        except OSError as exc:
            reason = f"cannot write the console's output: {exc.strerror or exc}"
        if not self.done.is_set():
            self.failure = reason
        self.opened.set()
