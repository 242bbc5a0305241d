"""The Wi-Fi calls on boards with and without Wi-Fi, across a reboot, with the password kept sealed."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from microvisor.device.firmware import load_firmware
from microvisor.device.machine import Device
from microvisor.device.state import BOARD_FILE, Board, DeviceState
from microvisor.kernel.microvisor import Microvisor
from microvisor.kernel.storage import KernelStorage
from microvisor.kernel.wifi import STORAGE_KEY, Wifi, derive_psk
from tests.c_apps import Run

SECRET = b"Tr0ub4dor&3-persist-passphrase"  # wifi.c keeps it masked in its flash
SSID = b"persist-net"


def make_device(path: Path, radio: str | None) -> None:
    """A device folder on a board with this radio."""
    DeviceState.open(path).close()
    Board(radio=radio).save(path / BOARD_FILE)


@contextlib.contextmanager
def boot(path: Path, elf: Path, phase: int) -> Iterator[Run]:
    """Power the device in `path` on with wifi.c told its phase; powered off on the way out."""
    state = DeviceState.open(path, create=False)
    state.backup.write(0, phase)
    device = Device(state)
    run = Run(device, Microvisor(device))

    def watch(event) -> None:
        run.events.append(event)
        if event.source == "log" and event.kind == "line" and event.data["text"].startswith("DONE"):
            device.stop("until")

    device.events.subscribe(watch)
    device.load_firmware(load_firmware(elf))
    try:
        yield run
    finally:
        run.kernel.close()
        device.close()
        state.close()


def wifi_of(kernel: Microvisor) -> Wifi:
    return next(family for family in kernel.families if isinstance(family, Wifi))


def finished(run: Run) -> None:
    result = run.run()
    assert result.reason == "until", (result, run.lines[-3:])
    assert run.failures() == []
    assert re.fullmatch(r"DONE pass=\d+ fail=0", run.lines[-1])


def folder_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())


def test_wpa2_psk_derivation_matches_the_ieee_vector():
    # IEEE 802.11i-2004, H.4.3: passphrase "password", SSID "IEEE".
    assert derive_psk(b"IEEE", b"password").hex() == \
        "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e"
    assert derive_psk(b"any", b"ab" * 32) == b"\xab" * 32


def test_wifi_credentials_are_kept_sealed_and_survive_a_reboot(kernel_apps, tmp_path):
    elf = kernel_apps / "wifi" / "wifi.elf"
    path = tmp_path / "dev"
    make_device(path, "wifi")

    with boot(path, elf, 1) as run:
        finished(run)
        assert {"set/null", "set/version-2", "set/unknown-mode", "set/ssid-33", "set/ssid-empty",
                "set/password-65", "set/password-7", "set/password-64-not-hex", "set/password-63",
                "get/null", "get/version-3", "get/buffer-in-flash", "get/length-null", "get/too-small",
                "set/open", "get/open", "set/passphrase", "get/passphrase", "set/hex-key", "get/hex-key",
                "set/from-flash", "set/mode-padding", "set/ssid-32", "set/from-irq", "set/clear",
                "get/cleared", "set/persist", "get/persist"} <= run.passed()
        wifi = wifi_of(run.kernel)
        assert wifi.ssid() == SSID
        assert wifi.psk() == hashlib.pbkdf2_hmac("sha1", SECRET, SSID, 4096, 32)  # what a radio would use
        changes = run.of("kernel", "wifi")
        assert changes[-1].data == {"ssid": SSID.hex(), "encrypted": True}
        assert all(SECRET.hex() not in str(e.data) and SECRET.decode() not in str(e.data) for e in run.events)

    # Powered off: nowhere in the device's folder (flash, option bytes, backup registers, app
    # image) is the password, in bytes or hex, nor the key derived from it.
    psk = hashlib.pbkdf2_hmac("sha1", SECRET, SSID, 4096, 32)
    stored = folder_bytes(path)
    for secret in (SECRET, SECRET.hex().encode(), psk, psk.hex().encode()):
        assert secret not in stored
    with DeviceState.open(path, create=False) as state:
        facts = KernelStorage(state).get(STORAGE_KEY)
    assert facts["ssid"] == SSID.hex() and len(bytes.fromhex(facts["psk"])) == 12 + 32 + 16

    with boot(path, elf, 2) as run:
        finished(run)
        assert {"get/after-reboot", "set/clear-after-reboot", "get/cleared-after-reboot"} <= run.passed()
        assert wifi_of(run.kernel).ssid() is None and wifi_of(run.kernel).psk() is None
    with DeviceState.open(path, create=False) as state:
        assert KernelStorage(state).get(STORAGE_KEY) is None


def test_sealed_key_is_bound_to_the_chip(kernel_apps, tmp_path):
    """The sealed key copied into another chip's storage does not open there."""
    elf = kernel_apps / "wifi" / "wifi.elf"
    make_device(tmp_path / "a", "wifi")
    make_device(tmp_path / "b", "wifi")
    with boot(tmp_path / "a", elf, 1) as run:
        finished(run)
    with DeviceState.open(tmp_path / "a", create=False) as state:
        facts = KernelStorage(state).get(STORAGE_KEY)
    with DeviceState.open(tmp_path / "b", create=False) as state:
        KernelStorage(state).put(**{STORAGE_KEY: facts})
    with boot(tmp_path / "b", elf, 2) as run:
        wifi = wifi_of(run.kernel)
        assert wifi.ssid() == SSID and wifi.psk() is None


def test_boards_without_wifi_answer_unavailable(kernel_apps, tmp_path):
    for radio in ("cellular", None):
        path = tmp_path / str(radio)
        make_device(path, radio)
        with boot(path, kernel_apps / "wifi" / "wifi.elf", 3) as run:
            finished(run)
            assert {"no-wifi/set", "no-wifi/get", "no-wifi/set-null", "no-wifi/get-null"} <= run.passed()
            assert run.of("kernel", "wifi") == []
