"""Crash reports symbolicated with the app's ELF, grouped by signature, and served by /v1/Crashes and
/v1/CrashGroups: real crashes of the SDK's `fault` and `lifecycle` examples, run on the virtual device
with the real kernel, handed to the link gateway as a link worker hands them."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from microvisor.cloud import symbolication
from microvisor.cloud.models import ElfFile
from microvisor.cloud.resources import parse_api_hash
from microvisor.common import crash_report
from microvisor.common.bundle import Bundle, build_app
from microvisor.common.manifest_schema import AppBody
from microvisor.device.firmware import load_firmware
from microvisor.device.machine import Device
from microvisor.device.peripherals import find
from microvisor.device.state import DeviceState
from microvisor.kernel.microvisor import Microvisor

ROOT = Path(__file__).resolve().parents[2]
FAULT_SOURCE = ROOT / "sdk" / "examples" / "fault" / "main.c"
LIFECYCLE_CRASH = 1  # sdk/examples/lifecycle/main.c: scenario 1, a write to the microvisor's flash


def crash_of(elf: Path, scenario: int | None = None, stack_bytes: int = 256) -> dict:
    """The decoded report of the first crash of `elf` on a fresh device (lifecycle: told its scenario)."""
    state = DeviceState.open(None)
    device = Device(state)
    try:
        kernel = Microvisor(device, stop_on_crash=True)
        kernel.app_body = SimpleNamespace(crash=SimpleNamespace(
            minimum_restart_ms=0, maximum_restart_ms=0, crash_report_pubkey=b"",
            include_stack_bytes=stack_bytes))
        device.load_firmware(load_firmware(elf))
        if scenario is not None:
            find(device.peripherals, "TAMP").backup.write(0, scenario)
        assert device.run(timeout_s=2.0).reason == "crash"
        return crash_report.decode(kernel.storage.crash_reports()[0])
    finally:
        device.close()
        state.close()


def faulting_line() -> int:
    """The line of the fault example that reads the microvisor's flash, found in its source."""
    lines = FAULT_SOURCE.read_text().splitlines()
    [number] = [n for n, text in enumerate(lines, 1) if "*(volatile uint32_t *)0x0C000000u" in text]
    return number


@pytest.fixture(scope="module")
def fault_elf(examples) -> Path:
    return examples / "fault" / "fault.elf"


@pytest.fixture(scope="module")
def lifecycle_elf(examples) -> Path:
    return examples / "lifecycle" / "lifecycle.elf"


@pytest.fixture(scope="module")
def fault_crash(fault_elf) -> dict:
    return crash_of(fault_elf)


@pytest.fixture(scope="module")
def lifecycle_crash(lifecycle_elf) -> dict:
    return crash_of(lifecycle_elf, LIFECYCLE_CRASH)


def bundle_of(elf: Path, politeness: int = 0) -> Bundle:
    """The app bundle `apps bundle` makes of the ELF (politeness makes another version of the same code)."""
    body = AppBody()
    body.update.maximum_politeness_time_sec = politeness
    return build_app(load_firmware(elf).data, body)


def upload(api, bundle: Bundle, elf: bytes | None, **fields):
    files = {"File": ("app.zip", bundle.to_bytes(), "application/zip")}
    if elf is not None:
        files["Elf"] = ("app.elf", elf, "application/octet-stream")
    return api.post("/v1/Apps", files=files, data=fields)


# --- symbolication alone -----------------------------------------------------------------------------
def test_the_fault_examples_pc_is_its_faulting_line(fault_elf, fault_crash):
    symbols = symbolication.Symbols(fault_elf.read_bytes())
    analysis = symbolication.analyse(fault_crash, symbols)
    pc = analysis.frames[0]
    assert pc["source"] == "pc" and pc["address"] == fault_crash["pc"]
    assert pc["function"] == "main"
    assert Path(pc["file"]).resolve() == FAULT_SOURCE and pc["line"] == faulting_line()
    # main was called by the startup code: its return address is in the stacked bytes, after a BL.
    callers = [f for f in analysis.frames if f["source"] == "stack"]
    assert callers and callers[0]["function"] == "Reset_Handler" and callers[0]["file"].endswith(".c")
    assert analysis.fault == "SecureFault: attribution unit violation (Non-secure access to Secure memory) " \
                             "at 0x0c000000"
    assert analysis.signature == "SecureFault (AUVIOL) | main | Reset_Handler"


def test_fault_status_in_words():
    words = symbolication.fault_words({"fault": "BusFault", "fault_status": {
        "cfsr": (1 << 9) | (1 << 15), "hfsr": 0, "mmfar": 0, "bfar": 0x40001234}})
    assert words == "BusFault: precise data bus error at 0x40001234"
    assert symbolication.fault_words({"fault": "UsageFault", "fault_status": {"cfsr": 1 << 25}}) \
        == "UsageFault: divide by zero"
    both = symbolication.fault_words({"fault": "HardFault", "fault_status": {"cfsr": 1 << 16,
                                                                             "hfsr": 1 << 30}})
    assert both == "HardFault: undefined instruction; escalated to HardFault (forced)"


def test_hostile_documents_are_analysed_without_error(fault_elf):
    symbols = symbolication.Symbols(fault_elf.read_bytes())
    for document in ({}, {"registers": [], "stack": "x"}, {"stacked_frame": {"pc": -1, "lr": "x"}},
                     {"stack": {"bytes": "!!", "address": 2**40}}, {"fault": 7, "causes": "AUVIOL"},
                     {"fault_status": {"cfsr": 2**64}, "stack": {"bytes": base64.b64encode(b"\xff" * 64)
                                                                 .decode()}}):
        analysis = symbolication.analyse(document, symbols)
        assert analysis.frames[0]["source"] == "pc" and analysis.signature_hash


def test_an_elf_must_be_the_bundles(fault_elf, lifecycle_elf):
    identity = symbolication.read_elf(fault_elf.read_bytes())
    symbolication.check_matches(identity, _spans(bundle_of(fault_elf)))
    with pytest.raises(symbolication.ElfError, match="does not match the bundle"):
        symbolication.check_matches(identity, _spans(bundle_of(lifecycle_elf)))
    whole = fault_elf.read_bytes()
    for data, words in ((b"not an elf", "not an ELF file"), (whole[:52], "truncated or corrupt"),
                        (whole[:300], "a segment runs past the end of the file"),
                        (b"\x7fELF" + b"\0" * (symbolication.MAX_ELF_SIZE), "over 8 MiB")):
        with pytest.raises(symbolication.ElfError, match=words):
            symbolication.read_elf(data)


def _spans(bundle: Bundle):
    from microvisor.common.bundle import app_image_spans

    return app_image_spans(bundle)


# --- through the gateway and the REST API ------------------------------------------------------------
def test_crashes_are_symbolicated_grouped_and_counted(api, other_api, service, fault_elf, lifecycle_elf,
                                                      fault_crash, lifecycle_crash):
    elf = fault_elf.read_bytes()
    first = upload(api, bundle_of(fault_elf), elf, UniqueName="fault-v1")
    assert first.status_code == 201, first.text
    second = upload(api, bundle_of(fault_elf, politeness=5), elf).json()  # same code, another version
    lifecycle = upload(api, bundle_of(lifecycle_elf), lifecycle_elf.read_bytes()).json()
    with service.database.transaction() as session:  # the same ELF is stored once
        assert session.query(ElfFile).filter_by(sha256=symbolication.read_elf(elf).sha256).count() == 1
    one, two = api.register()["sid"], api.register()["sid"]

    def crash(device: str, app: dict, document: dict) -> str:
        service.link.app_reported(device, parse_api_hash(app["hash"]))
        return service.link.crashed(device, document)

    reports = [crash(one, first.json(), fault_crash), crash(one, first.json(), fault_crash),
               crash(one, second, fault_crash), crash(two, first.json(), fault_crash),
               crash(two, lifecycle, lifecycle_crash)]

    shown = api.get(f"/v1/Crashes/{reports[0]}").json()
    assert shown["fault"].startswith("SecureFault: attribution unit violation")
    assert shown["frames"][0]["function"] == "main" and shown["frames"][0]["line"] == faulting_line()
    assert shown["registers"]["pc"] == fault_crash["pc"] and shown["fault_status"]["cfsr"] == 0
    assert shown["app_sid"] == first.json()["sid"] and shown["device_sid"] == one
    assert shown["report"]["kind"] == "fault" and shown["sealed_report"] is None

    groups = {g["sid"]: g for g in api.get("/v1/CrashGroups").json()["crash_groups"]}
    assert len(groups) == 2
    fault_group = groups[shown["group_sid"]]
    assert fault_group["count"] == 4 and fault_group["functions"] == ["main", "Reset_Handler"]
    assert {(v["app_sid"], v["count"]) for v in fault_group["versions"]} == {(first.json()["sid"], 3),
                                                                            (second["sid"], 1)}
    assert fault_group["devices"] == [{"device_sid": one, "count": 3}, {"device_sid": two, "count": 1}]
    assert fault_group["date_first"] <= fault_group["date_last"]
    [other_group] = [g for sid, g in groups.items() if sid != shown["group_sid"]]
    assert other_group["count"] == 1 and other_group["functions"][0] == lifecycle_crash_function(
        lifecycle_elf, lifecycle_crash)
    assert api.get(f"/v1/CrashGroups/{other_group['sid']}").json()["versions"] == [
        {"app_sid": lifecycle["sid"], "manifest_hash": parse_api_hash(lifecycle["hash"]), "count": 1}]

    listed = api.get("/v1/Crashes", params={"App": "fault-v1", "PageSize": 2}).json()
    assert [c["sid"] for c in listed["crashes"]] == reports[:2]
    following = api.get(listed["meta"]["next_page_url"]).json()  # the filter stays in the page URLs
    assert [c["sid"] for c in following["crashes"]] == [reports[3]]
    later = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert api.get("/v1/Crashes", params={"Since": later}).json()["crashes"] == []
    assert len(api.get("/v1/Crashes", params={"Since": "2000-01-01T00:00:00+02:00"}).json()["crashes"]) == 5

    # Another account sees none of it.
    assert other_api.get(f"/v1/Crashes/{reports[0]}").status_code == 404
    assert other_api.get(f"/v1/CrashGroups/{shown['group_sid']}").status_code == 404
    assert other_api.get("/v1/Crashes").json()["crashes"] == []
    assert other_api.get("/v1/CrashGroups").json()["crash_groups"] == []


def lifecycle_crash_function(elf: Path, document: dict) -> str:
    """The function the lifecycle example crashes in, as its ELF's symbol table (not DWARF) names it."""
    return symbolication.Symbols(elf.read_bytes()).locate(document["pc"]).function


def test_bad_requests_get_a_documented_400(api):
    for params in ({"Since": "yesterday"}, {"Since": "2026-13-01T00:00:00Z"},
                   {"Since": "2026-01-01T00:00:00"}, {"App": "no-such-app"}, {"PageSize": "0"}):
        response = api.get("/v1/Crashes", params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["code"] == 20001 and response.json()["message"]
    assert api.get("/v1/Crashes/CR00").status_code == 400
    assert api.get("/v1/CrashGroups/KA" + "0" * 32).status_code == 400
    assert api.get("/v1/Crashes/CR" + "0" * 32).status_code == 404


def test_a_bad_elf_upload_gets_one_clear_error(api, fault_elf, lifecycle_elf):
    for elf, words in ((b"MZ not an elf", "The ELF is refused: it is not an ELF file."),
                       (lifecycle_elf.read_bytes(), "The ELF does not match the bundle")):
        response = upload(api, bundle_of(fault_elf), elf)
        assert response.status_code == 400
        assert response.json()["message"].startswith(words), response.text
    assert api.get("/v1/Apps").json()["apps"] == []  # nothing was kept


def test_sealed_and_unreadable_reports_are_kept_unsymbolicated(api, service, fault_crash):
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    blob = crash_report.seal(fault_crash, point)
    device = api.register()["sid"]
    sealed = service.link.crashed(device, {"sealed": True, "report": base64.b64encode(blob).decode()})
    shown = api.get(f"/v1/Crashes/{sealed}").json()
    assert shown["sealed"] and shown["fault"] is None and shown["group_sid"] is None
    assert shown["report"] is None and shown["registers"] is None
    assert crash_report.decode(base64.b64decode(shown["sealed_report"]), key) == fault_crash
    unreadable = service.link.crashed(device, {"unreadable": "bad magic", "report": "AAAA"})
    assert api.get(f"/v1/Crashes/{unreadable}").json()["fault"] is None
    assert api.get("/v1/CrashGroups").json()["crash_groups"] == []
    assert json.loads(json.dumps(api.get("/v1/Crashes").json()))["meta"]["key"] == "crashes"


# --- the command line, against a real server process -------------------------------------------------
def test_the_command_line_lists_shows_and_opens_sealed_reports(tmp_path, fault_elf, lifecycle_elf,
                                                               fault_crash):
    import httpx

    from microvisor.cloud.database import Database, sqlite_url
    from microvisor.cloud.link_gateway import LinkGateway
    from microvisor.cloud.log_stream import LogWakeups
    from microvisor.common import keys

    from .test_cli_client import cli, cli_env
    from .test_server_process import _credentials, running_server

    data = tmp_path / "server"
    with running_server(data) as (url, _):
        env = {**cli_env(url, data, tmp_path / "home"), "COLUMNS": "200"}  # the table's rows on one line
        bundle = tmp_path / "fault.zip"
        cli(env, "apps", "bundle", str(fault_elf), str(bundle), "--unsigned")
        refused = cli(env, "apps", "create", str(bundle), "--elf", str(lifecycle_elf), expect=1)
        assert refused.startswith("error: The ELF does not match the bundle")
        assert len(refused.strip().splitlines()) == 1
        app = json.loads(cli(env, "apps", "create", str(bundle), "--elf", str(fault_elf), "--json"))
        sid, token = _credentials(data)
        device = httpx.post(f"{url}/v1/Devices", auth=(sid, token), data={
            "ChipUid": "00" * 12, "PublicKey": keys.public_pem(keys.generate().public_key()).decode()}
        ).json()["sid"]
        developer = keys.generate()
        keys.save_pair(tmp_path / "developer.pem", developer)
        point = developer.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        sealed_blob = crash_report.seal(fault_crash, point)
        link = LinkGateway(Database(sqlite_url(data / "microvisor.db")), LogWakeups())
        try:
            link.app_reported(device, parse_api_hash(app["hash"]))
            plain = link.crashed(device, fault_crash)
            sealed = link.crashed(device, {"sealed": True,
                                           "report": base64.b64encode(sealed_blob).decode()})
        finally:
            link.database.dispose()

        rows = json.loads(cli(env, "crashes", "list", "--app", app["sid"], "--since", "1h", "--json"))
        assert [row["sid"] for row in rows] == [plain, sealed]
        assert json.loads(cli(env, "crashes", "list", "--since", "2099-01-01T00:00:00Z", "--json")) == []
        table = cli(env, "crashes", "list")
        assert plain in table and "SecureFault (AUVIOL) | main" in " ".join(table.split())
        shown = cli(env, "crashes", "show", plain)
        assert f"main.c:{faulting_line()}" in shown and "Reset_Handler" in shown and "r0 0x" in shown
        assert "attribution unit violation" in " ".join(shown.split())

        refused = cli(env, "crashes", "show", sealed, expect=2)
        assert "is sealed by its app's CrashPolicy: give --key" in " ".join(refused.split())
        assert len(refused.strip().splitlines()) == 1
        opened = json.loads(cli(env, "crashes", "show", sealed, "--key", str(tmp_path / "developer.pem"),
                                "--json"))
        assert opened["report"] == fault_crash and opened["fault"].startswith("SecureFault: attribution")
        wrong = tmp_path / "wrong.pem"
        keys.save_pair(wrong, keys.generate())
        assert "does not decrypt with this key" in cli(env, "crashes", "show", sealed, "--key", str(wrong),
                                                       expect=1)
        assert "not found" in cli(env, "crashes", "show", "CR" + "0" * 32, expect=1).lower()
