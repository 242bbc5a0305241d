"""`microvisor devices debug`: a local GDB server whose target is a device anywhere, through the service.

GDB's remote-protocol bytes travel end to end (common/debug_channel.py): signed by the developer's
debug key on the way down, encrypted to it on the way up; the service relays what it cannot read.
"""

from __future__ import annotations

import base64
import queue
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..common.api_client import ApiClient, ApiError, api_path
from . import params
from .credentials import client
from .output import err, fail, out
from .service_cmds import _call

if TYPE_CHECKING:  # the channel (cryptography) loads when a session starts, not for --help
    from ..common.debug_channel import DeveloperSession

READ_SIZE = 16 * 1024


def debug(
    device: str = params.argument(params.NAME, metavar="DEVICE", help="Device SID or unique name."),
    key: Path = params.option(..., "--key", type=params.INPUT_FILE, metavar="DEBUG_PRIVATE.pem",
                              help="The private half of the debug key the app's manifest names "
                                   "(`apps bundle --debug-key` / `deploy --debug-key`)."),
    port: int = params.option(8001, "--port", type=params.port(zero_picks=True), metavar="PORT",
                              help="Local port for GDB."),
    timeout: float = params.option(30, "--timeout", type=params.Seconds(positive=True), metavar="S",
                                   help="How long to wait for the device to open a session."),
) -> None:
    """Debug a device's application from here: `gdb-multiarch APP.elf -ex 'target extended-remote
    :PORT'` then works as with a local probe. Ctrl-C stops serving (the application runs on)."""
    from ..common import keys

    try:
        private = keys.load_private(key)
    except keys.KeyFileError as exc:
        raise fail(str(exc)) from None
    with client() as api:
        sid = _call(api.get, api_path("v1", "Devices", device))["sid"]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(1)
    except OSError as exc:
        raise fail(f"cannot listen for GDB on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    port = listener.getsockname()[1]
    err.print(f"GDB: target extended-remote 127.0.0.1:{port} (debugging {sid} through the service)")
    try:
        while True:
            gdb, _ = listener.accept()
            with gdb:
                _serve(gdb, sid, private, timeout)
    except KeyboardInterrupt:
        return
    finally:
        listener.close()


def _serve(gdb: socket.socket, sid: str, key, timeout: float) -> None:
    """One GDB connection: a session with the device, bytes relayed both ways until either side ends."""
    from ..common import debug_channel as channel

    gdb.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    session = channel.DeveloperSession(key)
    answers: queue.Queue = queue.Queue()
    opened, done = threading.Event(), threading.Event()
    with client() as api, client() as stream:
        threading.Thread(target=_follow, args=(stream, sid, opened, done, answers), name="debug-stream",
                         daemon=True).start()
        try:
            if not _open(api, sid, session, opened, answers, timeout):
                return
            out.print(f"debug session open with {sid}")
            threading.Thread(target=_to_gdb, args=(session, answers, gdb), name="debug-to-gdb",
                             daemon=True).start()
            try:
                while data := gdb.recv(READ_SIZE):
                    if not _post(api, sid, session.data(data)):
                        break
            except OSError:
                pass
            _post(api, sid, session.close())
            answers.put(None)
        finally:
            done.set()  # leaving `with` closes the stream: its thread ends
    out.print("debug session closed")


def _open(api: ApiClient, sid: str, session: DeveloperSession, opened: threading.Event,
          answers: queue.Queue, timeout: float) -> bool:
    """Open the session: the stream first (so that no answer is missed), then OPEN, then its answer."""
    if not opened.wait(timeout):
        err.print("the service did not open the device's debug stream")
        return False
    return _post(api, sid, session.open()) and _await_open(session, answers, timeout)


def _follow(api: ApiClient, sid: str, opened: threading.Event, done: threading.Event,
            answers: queue.Queue) -> None:
    """The device's debug messages as the service relays them, onto `answers`, until the stream ends
    (the session's end closes `api`)."""
    try:
        for name, data in api.events(api_path("v1", "Devices", sid, "Debug", "Stream"), on_open=opened.set):
            if name == "debug":
                answers.put(base64.b64decode(str(data.get("payload", ""))))
    except (ApiError, ValueError, RuntimeError) as exc:
        if not done.is_set():
            err.print(f"the debug stream ended: {exc}")
    finally:
        answers.put(None)


def _post(api: ApiClient, sid: str, message: bytes) -> bool:
    try:
        api.request("POST", api_path("v1", "Devices", sid, "Debug"), content=message,
                    headers={"Content-Type": "application/octet-stream"})
    except ApiError as exc:
        err.print(f"cannot reach the device: {exc}")
        return False
    return True


def _await_open(session: DeveloperSession, answers: queue.Queue, timeout: float) -> bool:
    """Wait for the device's answer to OPEN: the session is then open."""
    from ..common.debug_channel import DebugChannelError

    while True:
        try:
            message = answers.get(timeout=timeout)
        except queue.Empty:
            message = None
        if message is None:
            err.print("the device did not answer: is it online, and does its application name this "
                      "debug key?")
            return False
        try:
            if session.read(message) is not None and session.is_open:
                return True
        except DebugChannelError as exc:
            err.print(f"ignored a debug message: {exc}")


def _to_gdb(session: DeveloperSession, answers: queue.Queue, gdb: socket.socket) -> None:
    """What the device's stub answers, decrypted, to GDB; the device closing ends GDB's connection."""
    from ..common.debug_channel import CLOSE, DebugChannelError

    while (message := answers.get()) is not None:
        try:
            found = session.read(message)
        except DebugChannelError as exc:
            err.print(f"ignored a debug message: {exc}")
            continue
        if found is None:
            continue
        kind, data = found
        if kind == CLOSE:
            break
        try:
            gdb.sendall(data)
        except OSError:
            break
    try:
        gdb.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
