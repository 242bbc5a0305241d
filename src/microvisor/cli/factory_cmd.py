"""`microvisor factory …`: the test program, the SPI image, SFI cards (`factory card`) and the station."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from . import params
from .output import fail, out, print_json
from .accounts_cmd import DATABASE, operator_database
from .server_cmd import DEFAULT_DATA

if TYPE_CHECKING:  # the card, the platform and the service load inside the commands that use them
    from ..factory.card import SfiCard

app = typer.Typer(help="The factory: test program, SPI image, SFI cards, the installer station.",
                  no_args_is_help=True)
card_app = typer.Typer(help="SFI cards: PKCS#11 tokens whose key authorizes installs, with the platform's "
                            "certificate binding them to an account and a number of licences.",
                       no_args_is_help=True)
app.add_typer(card_app, name="card")

# --- options the factory's commands share -----------------------------------------------------------
MAX_LICENCES = 2**31 - 1  # what a card certificate can carry (cloud/store/factory.py)
JSON = typer.Option(False, "--json", help="Print JSON.")
DATA = params.option(DEFAULT_DATA, "--data", type=params.FOLDER,
                     help="The server's data folder (its platform signs card certificates).")
TOKEN = params.option(..., "--token-label", type=params.TOKEN_LABEL, help="The label of the card's token.")
MODULE = params.option(None, "--pkcs11-module", type=params.INPUT_FILE, envvar="MICROVISOR_PKCS11_MODULE",
                       help="The PKCS#11 module of the card (default: SoftHSM2's, "
                            "/usr/lib/softhsm/libsofthsm2.so).")
LICENCES = params.Integer(1, MAX_LICENCES, meaning="a number of licences")
PIN_TYPE = params.Text("a PIN (printable text on one line)")
PIN_HELP = "The token's user PIN (better given in MICROVISOR_CARD_PIN than on the command line)."


@contextmanager
def _card(module: Path | None, label: str, pin: str | None) -> Iterator[SfiCard]:
    """The token, open (logged in when a PIN is given); a CardError, inside too, is the command's error."""
    from ..factory.card import DEFAULT_MODULE, CardError, SfiCard

    try:
        with SfiCard.open(str(module or DEFAULT_MODULE), label, pin) as card:
            yield card
    except CardError as exc:
        raise fail(f"{exc}.", 1) from None


def _pin(pin: str | None) -> str:
    """The PIN given, else asked for on a terminal."""
    if pin is not None:
        return pin
    if not sys.stdin.isatty():
        raise fail("give the card's PIN with --pin or MICROVISOR_CARD_PIN.")
    answer = typer.prompt("PIN of the card", hide_input=True)
    try:
        return PIN_TYPE.check(answer)
    except ValueError:
        raise fail("the PIN must be printable text on one line.") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")


# --- factory card ---------------------------------------------------------------------------------
@card_app.command("issue")
def card_issue(account: str = params.option(..., "--account", type=params.ACCOUNT_SID,
                                            help="The account the card installs devices for."),
               licences: int = params.option(..., "--licenses", "--licences", type=LICENCES,
                                             help="How many chips the card may have certified."),
               token_label: str = TOKEN, module: Path | None = MODULE,
               pin: str | None = params.option(None, "--pin", type=PIN_TYPE, envvar="MICROVISOR_CARD_PIN",
                                               help=PIN_HELP),
               data: Path = DATA, database_url: str | None = DATABASE, as_json: bool = JSON) -> None:
    """Make an SFI card: a key made on the token, recorded for the account, the platform's certificate on it.

    The key never leaves the token. The service records the card only once its certificate is on the
    token; if anything fails after the key was made, the key is deleted from the token again."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..cloud.data_dir import DataDir
    from ..cloud.store import factory as store
    from ..common import factory_protocol
    from ..common.platform import Platform, PlatformError
    from ..factory.card import CardError

    pin = _pin(pin)
    folder = DataDir(data)
    if not folder.platform.exists():
        raise fail(f"{data} has no platform yet; start the server on it once (microvisor server --data "
                   f"{data}).", 1)
    try:
        platform = Platform(folder.platform)
    except PlatformError as exc:
        raise fail(f"{exc}.", 1) from None
    database = operator_database(data, database_url)
    try:
        with _card(module, token_label, pin) as card:
            if card.has_key():
                raise fail(f"token '{token_label}' already holds a card key; a card is issued once, on a "
                           "fresh token.", 1)
            public_key = card.create_key()
            try:  # recorded only once the certificate is on the token: all of it, or none of it
                with database.transaction() as session:
                    sid = store.create_card(session, account, public_key, licences).sid
                    card.store_certificate(factory_protocol.issue_card_certificate(
                        platform.root_key, sid, account, public_key, licences))
            except BaseException as exc:
                undone = _erase(card)
                if isinstance(exc, store.CardError | CardError | SQLAlchemyError):
                    raise fail(f"cannot issue the card: {_first_line(exc)}; the service recorded nothing and "
                               f"{undone}.", 1) from None
                raise
    finally:
        database.dispose()
    row = {"card_sid": sid, "account_sid": account, "licences": licences, "token_label": token_label,
           "public_key": public_key.hex()}
    if as_json:
        print_json(row)
    else:
        out.print(f"Issued card {sid} to account {account} with {licences} licences; its key and certificate "
                  f"are on token '{token_label}'.")


def _erase(card: SfiCard) -> str:
    """Undo a failed issue on the token; what was done, as the end of a sentence."""
    from ..factory.card import CardError

    try:
        card.erase()
    except CardError as exc:
        return (f"the new key could not be deleted from token '{card.label}' ({_first_line(exc)}): "
                "initialise the token again before issuing it")
    return f"the new key was deleted from token '{card.label}'"


@card_app.command("show")
def card_show(token_label: str = TOKEN, module: Path | None = MODULE,
              pin: str | None = params.option(None, "--pin", type=PIN_TYPE, envvar="MICROVISOR_CARD_PIN",
                                              help=PIN_HELP + " Not needed to read the certificate."),
              as_json: bool = JSON) -> None:
    """Show the card on a token, from the certificate on it: card SID, account, licences (no service)."""
    from ..common import factory_protocol

    with _card(module, token_label, pin) as card:
        data = card.certificate()
        public_key = card.public_key()
    try:  # checked against the root key it names: whole and signed, though not whose root it is
        document = factory_protocol.load_document(data, "card certificate")
        root = bytes.fromhex(str(document.get("root", "")))
        certificate = factory_protocol.read_card_certificate(data, hashlib.sha256(root).digest())
    except (factory_protocol.FactoryProtocolError, ValueError) as exc:
        raise fail(f"the certificate on token '{token_label}' is damaged: {_first_line(exc)}.", 1) from None
    if certificate.public_key != public_key:
        raise fail(f"the certificate on token '{token_label}' (card {certificate.card}) is for another key "
                   "than the token's.", 1)
    row = {"card_sid": certificate.card, "account_sid": certificate.account, "licences": certificate.licences,
           "token_label": token_label, "public_key": public_key.hex(),
           "root_key_hash": hashlib.sha256(certificate.root).hexdigest()}
    if as_json:
        print_json(row)
        return
    for name, key in (("card", "card_sid"), ("account", "account_sid"), ("licences", "licences"),
                      ("token", "token_label"), ("public key", "public_key"),
                      ("root key hash", "root_key_hash")):
        out.print(f"{name + ':':15}{row[key]}")


@card_app.command("revoke")
def card_revoke(card_sid: str = params.argument(params.CARD_SID, metavar="CARD_SID"), data: Path = DATA,
                database_url: str | None = DATABASE) -> None:
    """Revoke a card: the service refuses every certification it authorizes from now on."""
    from ..cloud.store.factory import CardError, revoke_card

    database = operator_database(data, database_url)
    try:
        with database.transaction() as session:
            revoke_card(session, card_sid)
    except CardError as exc:
        raise fail(f"{exc}.", 1) from None
    finally:
        database.dispose()
    out.print(f"card {card_sid} revoked")


# --- factory test-program, image, inspect ------------------------------------------------------------
PLATFORM = params.option(..., "--platform", type=params.FOLDER, metavar="PDIR",
                         help="The platform folder: its kernel key signs, its app key co-signs.")


@app.command("test-program")
def test_program(platform_dir: Path = PLATFORM,
                 output: Path = params.option(..., "-o", "--output", type=params.OUTPUT_FILE,
                                              metavar="TP.zip", help="Bundle to write.")) -> None:
    """Build the Microvisor test program (steps 5 to 8 on each DUT), signed like the kernel."""
    from ..common import kernel_image
    from ..common.platform import Platform, PlatformError

    try:
        bundle = kernel_image.build(Platform(platform_dir), source=kernel_image.TEST_PROGRAM_SOURCE,
                                    version_string=kernel_image.TEST_PROGRAM_VERSION)
        bundle.write(output)
    except (PlatformError, OSError) as exc:
        raise fail(str(exc)) from None
    out.print(f"wrote {output}: {kernel_image.TEST_PROGRAM_VERSION}, manifest {bundle.manifest_hash[:16]}…")


@app.command("image")
def image(
    platform_dir: Path = PLATFORM,
    test_program_path: Path = params.option(..., "--test-program", type=params.INPUT_FILE, metavar="TP.zip",
                                            help="The test program (`factory test-program`)."),
    kernel: Path = params.option(..., "--kernel", type=params.INPUT_FILE, metavar="KERNEL.zip",
                                 help="The kernel (`kernel build`)."),
    test_bundle: Path = params.option(..., "--test-bundle", type=params.INPUT_FILE, metavar="TEST.zip",
                                      help="The customer's test bundle: it ends with mvTestingComplete."),
    app_bundle: Path = params.option(..., "--app-bundle", type=params.INPUT_FILE, metavar="APP.zip",
                                     help="The customer's application, installed when the test passes."),
    output: Path = params.option(..., "-o", "--output", type=params.OUTPUT_FILE, metavar="spi.img",
                                 help="Image to write."),
) -> None:
    """Make the SPI-flash image each DUT's QSPI receives: a signed table of contents, then the test
    program, the kernel, the test bundle and the application (co-signed with the platform's app key)."""
    from ..common.bundle import Bundle, BundleError
    from ..common.platform import Platform, PlatformError
    from ..common.spi_image import SpiImageError, file_reader
    from ..common.spi_image import read as read_image
    from ..factory.image import ImageError, build_image

    try:
        platform = Platform(platform_dir)
        bundles = [Bundle.read(path) for path in (test_program_path, kernel, test_bundle, app_bundle)]
        data = build_image(platform, *bundles)
        output.write_bytes(data)
    except (PlatformError, BundleError, ImageError, SpiImageError, OSError) as exc:
        raise fail(str(exc)) from None
    toc = read_image(file_reader(data), platform.root_key_hash)
    out.print(f"wrote {output}: {len(data)} bytes, table of contents {toc.toc_hash[:16]}…")


@app.command("inspect")
def inspect(image_path: Path = params.argument(params.INPUT_FILE, metavar="spi.img", help="The image."),
            platform_dir: Path | None = params.option(None, "--platform", type=params.FOLDER, metavar="PDIR",
                                                      help="Check the image is anchored to this platform's "
                                                           "root key (else the root it names is shown)."),
            as_json: bool = JSON) -> None:
    """List and verify every part of an SPI image, as a device will; exit 1 if anything fails."""
    from rich.table import Table
    from rich.text import Text

    from ..common.platform import Platform, PlatformError
    from ..common.spi_image import MAX_IMAGE_SIZE
    from ..factory.image import ImageError, inspect_image

    try:
        root = Platform(platform_dir).root_key_hash if platform_dir is not None else None
        if image_path.stat().st_size > MAX_IMAGE_SIZE:
            raise fail(f"{image_path} is larger than an SPI image can be ({MAX_IMAGE_SIZE} bytes).")
        toc, parts = inspect_image(image_path.read_bytes(), root)
    except (PlatformError, OSError) as exc:
        raise fail(str(exc)) from None
    except ImageError as exc:
        raise fail(f"{image_path}: {exc}.", 1) from None
    good = all(part.verified for part in parts)
    if as_json:
        print_json({**toc, "verified": good, "parts": [part.__dict__ for part in parts]})
    else:
        anchor = "this platform's" if root else "the root key it names (give --platform to check it)"
        out.print(f"table of contents {toc['toc_hash'][:16]}… signed by {toc['signer_id']}, anchored to "
                  f"{anchor}: {toc['root_key_hash'][:16]}…")
        table = Table("part", "offset", "size", "sha256", "verified", "detail")
        for part in parts:
            verdict = Text("yes", "green") if part.verified else Text("NO", "red")
            table.add_row(part.name, f"{part.offset:#x}", str(part.size), part.sha256[:16] + "…", verdict,
                          Text(part.detail))
        out.print(table)
    if not good:
        raise typer.Exit(1)


# --- factory station -------------------------------------------------------------------------------
@app.command("station")
def station(
    image_path: Path | None = params.option(None, "--image", type=params.INPUT_FILE, metavar="spi.img",
                                            help="The SPI image (the web page may also upload one)."),
    token_label: str = params.option(..., "--card", type=params.TOKEN_LABEL, metavar="TOKEN",
                                     help="The label of the SFI card's token."),
    module: Path | None = MODULE,
    pin: str | None = params.option(None, "--pin", type=PIN_TYPE, envvar="MICROVISOR_CARD_PIN",
                                    help=PIN_HELP),
    server: str | None = params.option(None, "--server", type=params.SERVICE_URL, metavar="URL",
                                       help="The service (credentials from MICROVISOR_ACCOUNT_SID/AUTH_TOKEN "
                                            "or `microvisor login`)."),
    duts: list[tuple] = params.option([], "--dut", type=params.DutAddress(),
                                      help="A DUT on the fixture (repeatable)."),
    parallel: int = params.option(4, "--duts", type=params.Integer(1, 64, meaning="a number of DUTs"),
                                  metavar="N", help="Run up to N DUTs at once."),
    headless: bool = typer.Option(False, "--headless", help="No web page: run each --dut once, print the "
                                                             "events, exit 0 when every DUT passed."),
    name: str = params.option("station", "--name", type=params.Text("a station name"),
                              help="The station's name in the service's records."),
    port: int = params.option(8480, "--port", type=params.port(zero_picks=True),
                              help="The web page's port on 127.0.0.1."),
    step_timeout: float = params.option(60.0, "--step-timeout", type=params.Seconds(positive=True),
                                        help="Give up on a DUT that says nothing for this long."),
    as_json: bool = typer.Option(False, "--json", help="Print each event as one JSON line (headless)."),
) -> None:
    """The installer station: programs each DUT over its debug port, answers it over its
    provisioning UART with the card and the service, and takes it through the ten steps; a web page
    for the operator, or --headless for scripts."""
    from ..factory.station import Dut

    fixture = [Dut(*spec) for spec in duts]
    if headless and (image_path is None or not fixture):
        raise fail("--headless needs --image and at least one --dut.")
    with _card(module, token_label, _pin(pin)) as card, _service(server) as api:
        if headless:
            _headless(_station(image_path.read_bytes(), card, api, name, step_timeout, as_json), fixture,
                      parallel)
        else:
            _web(image_path, card, api, name, fixture, port, step_timeout)


@contextmanager
def _service(server: str | None):
    from .credentials import client

    api = client(server)
    try:
        yield api
    finally:
        api.close()


def _station(image_data: bytes, card, api, name: str, step_timeout: float, as_json: bool):
    from ..factory.station import Station, StationError

    printer = _json_event if as_json else _print_event
    try:
        return Station(image_data, card, api, name, printer, step_timeout)
    except StationError as exc:
        raise fail(str(exc)) from None


def _headless(station, fixture: list, parallel: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        results = list(pool.map(station.run, fixture))
    failed = [r for r in results if not r.passed]
    if failed:
        raise typer.Exit(1)


def _json_event(event: dict) -> None:
    import json

    sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
    sys.stdout.flush()


def _print_event(event: dict) -> None:
    """One line a human reads; everything in it that came from a DUT is shown as text, never markup."""
    from rich.text import Text

    status = event["status"]
    if status == "progress":
        return
    if status == "done":
        result = event["result"]
        verdict = Text("PASSED", "green") if result["passed"] else Text(f"FAILED at step {result['step']}",
                                                                           "red")
        out.print(Text.assemble(f"{event['dut']}: ", verdict,
                                f" in {result['seconds']:.1f} s: {event['message']}"))
        return
    colour = {"passed": "green", "failed": "red", "skipped": "yellow"}.get(status, "dim")
    out.print(Text.assemble(f"{event['dut']:<12} {event['time']:7.2f}s step {event['step']:>2} ",
                            (f"{status:8}", colour), f" {event['message']}"))


def _web(image_path, card, api, name: str, fixture: list, port: int, step_timeout: float) -> None:
    from ..factory.station import StationError
    from ..factory.station_web import serve, station_app

    try:
        page = station_app(card, api, name, image_path.read_bytes() if image_path else None, fixture,
                           step_timeout_s=step_timeout)
        serve(page, port=port, on_listening=lambda url: out.print(f"the station's page: {url} (Ctrl-C ends)"))
    except (StationError, ValueError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot serve the station's page on port {port}: {exc}") from None
