"""`microvisor device …`: create, run and inspect virtual devices."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from . import params
from .output import TRACE_SOURCES, Printer, err, fail, out, print_json

if TYPE_CHECKING:  # the device, kernel and bundle modules load in the commands that use them, not for --help
    from ..common.bundle import Bundle
    from ..device.state import DeviceState

app = typer.Typer(help="Virtual STM32U585 devices: create, run, inspect.", no_args_is_help=True)

EXIT_OK, EXIT_USAGE, EXIT_TIMEOUT, EXIT_CRASH, EXIT_NO_BOOT, EXIT_POWER_CUT = 0, 2, 3, 4, 5, 6


@app.command("create")
def create(
    directory: Path = params.argument(params.NEW_FOLDER, metavar="DIR", help="New folder for the device."),
    platform_dir: Path | None = params.option(None, "--platform", type=params.FOLDER, metavar="PDIR",
                                              help="Platform folder."),
    server: str | None = params.option(None, "--server", type=params.SERVICE_URL,
                                       help="Register with this service instead (credentials from "
                                            "MICROVISOR_ACCOUNT_SID/AUTH_TOKEN or `microvisor login`)."),
    chip_uid: bytes | None = params.option(None, "--chip-uid", type=params.HexBytes(12),
                                           help="The chip's unique ID."),
    customer_key: list[Path] = params.option(
        [], "--customer-key", type=params.INPUT_FILE, metavar="PUB",
        help="Require applications to be signed by this key too (repeatable)."),
    radio: str = params.option("cellular", "--radio", type=params.Choice(("cellular", "wifi")),
                               help="The board's radio module (wifi: the Wi-Fi calls work)."),
) -> None:
    """Make a ready development device: OTP programmed (root-key hash, TrustZone on, debug
    locked), the platform's signed kernel installed, a device key and a certificate from the
    platform CA with CN = the device SID. With --server the service registers the device: its
    certificate, kernel and broker address come from there, and `device run` connects."""
    from ..common import kernel_image, keys
    from ..common.platform import Platform, PlatformError
    from ..device.provisioning import create_device
    from ..device.state import BOARD_FILE, Board, StateError

    if (platform_dir is None) == (server is None):
        raise fail("give exactly one of --platform PDIR and --server URL.")
    try:
        if server is not None:
            sid = _register(directory, server, chip_uid, customer_key)
            done = f"device {sid} registered with {server} and created in {directory}"
        else:
            platform = Platform(platform_dir)
            customers = [keys.load_public(path) for path in customer_key]
            sid = create_device(directory, platform, kernel_image.build(platform), chip_uid=chip_uid,
                                customer_keys=customers)
            done = f"device {sid} created in {directory}"
        Board(radio=radio).save(directory / BOARD_FILE)
    except (PlatformError, keys.KeyFileError, StateError, OSError) as exc:
        raise fail(str(exc)) from None
    out.print(done)


def _register(directory: Path, server: str, uid: bytes | None, customer_key: list[Path]) -> str:
    """Register a new device with the service and make it from what the service answers."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    from ..common import keys
    from ..common.api_client import ApiError
    from ..common.bundle import Bundle, BundleError
    from ..common.sids import device_sid
    from ..device.identity import Identity
    from ..device.provisioning import create_registered_device
    from ..device.state import StateError
    from .credentials import client

    uid = uid or os.urandom(12)
    sid = device_sid(uid)
    try:
        customers = [keys.raw_public(keys.load_public(path)).hex() for path in customer_key]
    except keys.KeyFileError as exc:
        raise fail(str(exc)) from None
    key = keys.generate()
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sid)]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    with client(server) as api:
        try:
            answer = api.post("/v1/Devices", {"ChipUid": uid.hex(), "Csr": csr})
        except ApiError as exc:
            raise fail(f"cannot register the device: {exc}", 1) from None
    if not answer.get("broker"):
        err.print("warning: the service runs no device link; the device will not connect")
    try:
        kernel = Bundle.from_bytes(base64.b64decode(answer["kernel_bundle"]))
        identity = Identity(sid=answer["sid"], key_pem=keys.private_pem(key).decode(),
                            certificate_pem=answer["certificate"], ca_pem=answer["ca_certificate"],
                            customer_keys=customers, server=server, broker=answer.get("broker"))
        return create_registered_device(directory, kernel, identity, uid)
    except (KeyError, ValueError, BundleError) as exc:
        raise fail(f"the service's answer cannot be used: {exc}", 1) from None
    except (StateError, OSError) as exc:
        raise fail(str(exc)) from None


def _read_app(path: Path) -> Bundle:
    """A bundle file as it is, or a firmware file bundled (unsigned) on the way."""
    from ..common.bundle import Bundle, BundleError, build_app
    from ..device.firmware import FirmwareError, load_firmware

    try:
        with path.open("rb") as handle:
            is_zip = handle.read(2) == b"PK"
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if is_zip:
            return Bundle.read(path)
        return build_app(load_firmware(path).data)
    except (BundleError, FirmwareError) as exc:
        raise fail(f"{path}: {exc}") from None


def _stage(state: DeviceState, directory: Path, app_path: Path | None, kernel_path: Path | None,
           app: Bundle | None = None) -> None:
    """Stage the application at app_path (`app`: that file, read already) or the kernel as an update."""
    from ..common.bundle import Bundle, BundleError
    from ..common.platform import Platform, PlatformError
    from ..device.provisioning import development_platform
    from ..device.staging import KIND_APP, KIND_KERNEL, Staging

    if app_path is not None and kernel_path is not None:
        raise fail("stage one update at a time: --app or --kernel.")
    staging = Staging(state)
    if app_path is not None:
        bundle = app if app is not None else _read_app(app_path)
        platform_dir = development_platform(directory)
        if platform_dir is not None:
            try:
                bundle.sign(Platform(platform_dir).app_key)  # as the service co-signs an upload
            except PlatformError as exc:
                raise fail(f"cannot co-sign with the device's platform: {exc}") from None
        staging.write(KIND_APP, bundle.to_bytes())
        err.print(f"staged application {bundle.manifest_hash[:16]}… as a local update")
    if kernel_path is not None:
        try:
            kernel = Bundle.read(kernel_path)
        except BundleError as exc:
            raise fail(f"{kernel_path}: {exc}") from None
        staging.write(KIND_KERNEL, kernel.to_bytes())
        err.print(f"staged kernel {kernel.manifest_hash[:16]}… as a local update")


@contextlib.contextmanager
def _throwaway_device(app_path: Path) -> Iterator[Path]:
    """A development device in a temporary folder, with its own platform; removed afterwards."""
    from ..common import kernel_image
    from ..common.platform import Platform
    from ..device.provisioning import create_device

    root = Path(tempfile.mkdtemp(prefix="microvisor-dev-"))
    try:
        platform = Platform.init(root / "platform")
        create_device(root / "device", platform, kernel_image.build(platform))
        yield root / "device"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@app.command("run")
def run(
    target: Path = params.argument(params.EXISTING, metavar="DIR|FIRMWARE|BUNDLE",
                                   help="A device folder, or an application (ELF, binary or bundle) to run "
                                        "on a throw-away development device."),
    app_bundle: Path | None = params.option(None, "--app", type=params.INPUT_FILE, metavar="BUNDLE",
                                            help="Co-sign with the device's platform; stage as an update."),
    kernel_bundle: Path | None = params.option(None, "--kernel", type=params.INPUT_FILE, metavar="KERNEL.zip",
                                               help="Stage a kernel update."),
    gdb: int | None = params.option(None, "--gdb", type=params.port(zero_picks=True), metavar="PORT",
                                    help="Serve the GDB remote protocol on 127.0.0.1:PORT; the CPU waits, "
                                         "halted at reset, for the debugger."),
    timeout: float | None = params.option(None, "--timeout", type=params.Seconds(positive=True),
                                          help="Stop with exit 3 after this many seconds of virtual time."),
    until: str | None = params.option(None, "--until", type=params.TEXT,
                                      help="Stop with exit 0 when the application's output contains TEXT."),
    trace: set[str] | None = params.option(None, "--trace", type=params.ChoiceList(TRACE_SOURCES),
                                           help="Also show device events."),
    power_cut_after_writes: int | None = params.option(
        None, "--power-cut-after-writes", type=params.Integer(1, params.UINT32_MAX), metavar="N",
        help="Lose power, exit 6, after the Nth flash write."),
    fast: bool = typer.Option(False, "--fast",
                              help="Run flat out: virtual time may run ahead of the wall clock (a sleep "
                                   "takes no time). By default the device is paced: virtual time never "
                                   "runs ahead of wall time."),
    keep_running: bool = typer.Option(False, "--keep-running",
                                      help="After a crash, let the kernel restart the application as the "
                                           "crash policy says, instead of stopping with exit 4."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log the ROM's and kernel's steps."),
) -> None:
    """Power a device on: boot ROM → kernel → application, and print its output with virtual
    timestamps.

    Exit status: 0 when --until text appears, 2 for unusable input, 3 on timeout, 4 when the
    application crashed (the crash record is printed), 5 when the ROM refuses to boot the kernel,
    6 when the power was cut.
    """
    from ..device.state import DeviceState, StateError

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    sources = trace or set()
    with contextlib.ExitStack() as stack:
        directory = target
        app = None
        if not target.is_dir():
            if app_bundle is not None:
                raise fail("--app needs a device folder; the application given already runs.")
            app_bundle = target
            app = _read_app(target)  # fail early, before any device is made
            directory = stack.enter_context(_throwaway_device(target))
        try:
            state = DeviceState.open(directory, create=False, power_cut_after=power_cut_after_writes)
        except (StateError, OSError) as exc:
            raise fail(f"cannot use device {directory}: {exc}") from None
        stack.callback(state.close)
        code = _boot_and_run(state, directory, app_bundle, kernel_bundle, gdb, timeout, until, sources,
                             keep_running, not fast, app)
    raise typer.Exit(code)


def _boot_and_run(state: DeviceState, directory: Path, app_path: Path | None, kernel_path: Path | None,
                  gdb: int | None, timeout: float | None, until: str | None, sources: set[str],
                  keep_running: bool, paced: bool, app: Bundle | None = None) -> int:
    from ..device.flash import FlashError, PowerCut
    from ..device.staging import StagingError

    try:
        _stage(state, directory, app_path, kernel_path, app)
    except PowerCut as exc:
        err.print(f"power lost: {exc}")
        return EXIT_POWER_CUT
    except (StagingError, FlashError) as exc:
        raise fail(str(exc)) from None
    while True:  # the kernel may restart the device through the ROM (an update, a remote restart)
        code, used_s = _power_on_and_run(state, gdb, timeout, until, sources, keep_running, paced)
        if code is not None:
            return code
        err.print("microvisor: the device restarts through the boot ROM")
        if timeout is not None:
            timeout = max(timeout - used_s, 1e-9)


def _power_on_and_run(state: DeviceState, gdb: int | None, timeout: float | None, until: str | None,
                      sources: set[str], keep_running: bool, paced: bool) -> tuple[int | None, float]:
    """One power-on: (exit status, or None when the device restarts; virtual seconds it ran)."""
    from ..device.boot_rom import BootError, power_on
    from ..device.clock import NS_PER_S
    from ..device.flash import FlashError, PowerCut
    from ..device.native_library import NativeLibraryError
    from ..device.staging import StagingError

    try:
        device, kernel = power_on(state)
    except NativeLibraryError as exc:  # no C compiler to build the CPU's native parts
        raise fail(str(exc), 1) from None
    except PowerCut as exc:
        err.print(f"power lost: {exc}")
        return EXIT_POWER_CUT, 0.0
    except BootError as exc:
        err.print(Text.assemble(("no boot:", "red"), f" {exc}"))
        return EXIT_NO_BOOT, 0.0
    except (StagingError, FlashError) as exc:
        raise fail(str(exc)) from None
    kernel.stop_on_crash = not keep_running
    device.paced, device.awaits_input = paced, True  # a link, a debugger or Ctrl-C may come
    try:
        if kernel.no_application_reason:
            err.print(f"microvisor: waiting, no application to run ({kernel.no_application_reason})")
        device.trace_irq = "irq" in sources
        printer = Printer(sources, until, lambda: device.stop("until"))
        device.events.subscribe(printer)
        server = None
        if gdb is not None:
            from ..device.gdbstub import GdbServer

            try:
                server = GdbServer(device, gdb)
            except OSError as exc:
                raise fail(f"cannot listen for GDB on 127.0.0.1:{gdb}: {exc}") from None
            err.print(f"GDB: waiting on 127.0.0.1:{server.port} "
                      f"(target extended-remote 127.0.0.1:{server.port})")
        # Ctrl-C asks the device to stop: raised inside an emulator callback, a KeyboardInterrupt
        # would look like a fault of the application and leave a false crash report.
        previous = signal.signal(signal.SIGINT, lambda *_: device.stop("interrupted"))
        try:
            result = device.run(timeout_s=timeout, halt_first=server is not None)
        except PowerCut as exc:
            err.print(f"power lost: {exc}")
            return EXIT_POWER_CUT, 0.0
        finally:
            signal.signal(signal.SIGINT, previous)
            if server is not None:
                server.close()
    finally:
        kernel.close()
        device.close()
    if result.reason == "interrupted":
        raise fail("interrupted.", 130)
    if result.reason == "crash" and result.crash is not None:
        sys.stderr.write(result.crash.format() + "\n")
        return EXIT_CRASH, 0.0
    if result.reason == "timeout":
        err.print(f"timeout: {timeout:g} s of virtual time passed" + (f" without {until!r}" if until else ""))
        return EXIT_TIMEOUT, 0.0
    if result.reason == "reboot":
        return None, result.time_ns / NS_PER_S
    return EXIT_OK, 0.0


def inspect_device(state: DeviceState) -> dict:
    """What `device inspect` shows, as data."""
    from ..common.bundle import BundleError
    from ..common.sids import device_sid
    from ..device.boot_rom import BootError, BootRom
    from ..device.identity import read_identity
    from ..kernel.storage import KernelStorage

    rom = BootRom(state)
    ob = state.option_bytes
    identity = read_identity(state)
    try:
        kernel = rom.verify_installed_kernel().describe()
    except BootError as exc:
        kernel = {"error": str(exc)}
    storage = KernelStorage(state)
    facts = storage.facts()
    try:
        app = rom.installed_app()
        installed = None if app is None else app.manifest_hash
    except BundleError as exc:
        installed = f"damaged: {exc}"
    return {
        "sid": identity.sid if identity else device_sid(ob.chip_uid),
        "chip_uid": ob.chip_uid.hex(),
        "otp": {"root_key_hash": ob.root_key_hash.hex() if ob.root_key_hash else None,
                "trustzone": ob.tzen, "debug_locked": ob.debug_locked, "factory_mode": ob.factory_mode,
                "kernel_ratchet": ob.kernel_ratchet},
        "kernel": kernel,
        "application": {"manifest_hash": installed,
                        "customer_keys": len(identity.customer_keys) if identity else 0},
        "last_wake_reason": facts.get("last_wake_reason"),
        "pending_crash_reports": len(storage.crash_reports()),
        "staging": {**rom.staging.describe(), "last_outcome": rom.last_outcome()},
        "flash_writes": state.counter.count,
    }


@app.command("inspect")
def inspect(
    directory: Path = params.argument(params.FOLDER, metavar="DIR", help="Device folder."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a device: kernel version, application manifest hash, last wake reason, pending crash
    reports and staging state."""
    from rich.table import Table

    from ..device.state import DeviceState, StateError

    try:
        with DeviceState.open(directory, create=False) as state:
            info = inspect_device(state)
    except (StateError, OSError) as exc:
        raise fail(f"cannot use device {directory}: {exc}") from None
    if as_json:
        print_json(info)
        return
    table = Table(show_header=False, box=None)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    kernel = info["kernel"]
    staging = info["staging"]
    outcome = staging["last_outcome"]
    rows = [
        ("device", info["sid"]),
        ("kernel", kernel.get("error") or f"{kernel['version_string']} (version {kernel['version_number']}, "
                                           f"ratchet {kernel['security_ratchet']})"),
        ("application", info["application"]["manifest_hash"] or "none installed"),
        ("last wake reason", str(info["last_wake_reason"] or "-")),
        ("pending crash reports", str(info["pending_crash_reports"])),
        ("staging", f"{staging['kind']} update, {staging['bytes']} bytes" if staging["staged"] else "empty"),
        ("last staged update", "-" if outcome is None else f"{outcome['kind']} {outcome['result']}"
         + (f": {outcome['reason']}" if "reason" in outcome else "")),
        ("OTP", ", ".join(f"{k}={v}" for k, v in info["otp"].items())),
    ]
    for name, value in rows:
        table.add_row(Text(name, style="bold"), value)
    out.print(table)


BLANK_FAULTS = ("qspi-missing", "qspi-wrong-size", "qspi-stuck", "no-radio")  # device/qspi.py QSPI_FAULTS


@app.command("blank")
def blank(
    directory: Path = params.argument(params.NEW_FOLDER, metavar="DIR",
                                      help="The chip's folder: made when new, powered on again "
                                           "when it exists."),
    platform_dir: Path | None = params.option(None, "--platform", type=params.FOLDER, metavar="PDIR",
                                              help="The platform the chip is made for (a new chip only): "
                                                   "its root-key hash goes into OTP, its chip key derives "
                                                   "from the platform's SFI master."),
    fault: str | None = params.option(None, "--fault", type=params.Choice(BLANK_FAULTS),
                                      help="Build the board with this fault (a new chip only)."),
    radio: str = params.option("cellular", "--radio", type=params.Choice(("cellular", "wifi")),
                               help="The board's radio module (a new chip only)."),
    chip_uid: bytes | None = params.option(None, "--chip-uid", type=params.HexBytes(12),
                                           help="The chip's unique ID (a new chip only; random by default)."),
    debug_port: int = params.option(0, "--debug-port", type=params.port(zero_picks=True), metavar="PORT",
                                    help="Serve the debug port on 127.0.0.1:PORT while it is open."),
    uart_port: int = params.option(0, "--uart-port", type=params.port(zero_picks=True), metavar="PORT",
                                   help="Serve the provisioning UART on 127.0.0.1:PORT."),
    fast: bool = typer.Option(False, "--fast", help="Run the application core flat out (unpaced)."),
    as_json: bool = typer.Option(False, "--json", help="Print the chip and its ports as one JSON line."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log the ROM's and the chip's steps."),
) -> None:
    """Power on a virtual STM32U585 on the factory line: a new chip is blank (TrustZone off,
    debug port open, empty flash, a ROM with a chip-unique key and ID); the installer station
    (`microvisor factory station`) programs it over the debug port and talks to it over the
    provisioning UART. Runs until interrupted; run it again on the same folder after a power cut."""
    from ..common.platform import Platform, PlatformError
    from ..device.factory_chip import FactoryChip, make_blank
    from ..device.state import MARKER_FILE, Board, DeviceState, StateError

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if not (directory / MARKER_FILE).exists():
            if platform_dir is None:
                raise fail("a new chip needs --platform PDIR (the platform it is made for).")
            platform = Platform(platform_dir)
            board = Board(radio=None if fault == "no-radio" else radio,
                          qspi_fault=None if fault in (None, "no-radio") else fault)
            make_blank(directory, platform.root_key_hash, platform.sfi_master(), board, chip_uid)
        elif platform_dir is not None or fault is not None or chip_uid is not None:
            raise fail(f"{directory} holds a chip already: --platform, --fault and --chip-uid make new ones.")
        chip = FactoryChip(directory, debug_port, uart_port, paced=not fast)
        with DeviceState.open(directory, create=False) as state:
            uid = state.option_bytes.chip_uid.hex()
    except (PlatformError, StateError, OSError) as exc:
        raise fail(f"cannot power the chip on: {exc}") from None
    if as_json:
        sys.stdout.write(json.dumps({"chip_uid": uid, "debug_port": chip.debug_port,
                                     "uart_port": chip.uart.port, "path": str(directory)}) + "\n")
    else:
        out.print(f"chip {uid}: debug port 127.0.0.1:{chip.debug_port}, provisioning UART "
                  f"127.0.0.1:{chip.uart.port}")
    sys.stdout.flush()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: chip.stop())
    try:
        chip.run()
    except StateError as exc:
        raise fail(f"the chip stopped: {exc}", 1) from None
