"""The installer station's page: its input checks, and an operator's session in Chromium with real DUTs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from microvisor.common import factory_protocol, keys, spi_image
from microvisor.common.api_client import ApiClient, ApiError
from microvisor.common.platform import Platform
from microvisor.common.sids import device_sid
from microvisor.factory.station import Dut, StationError
from microvisor.factory.station_web import MAX_UPLOAD, PageServer, station_app

from ..conftest import ROOT
from .conftest import FactoryEnv

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "build" / "screenshots" / "factory"
LOCAL = "http://127.0.0.1:8480"
CARD_SID = "FC" + "1" * 32
ACCOUNT_SID = "AC" + "2" * 32
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>&amp;'


# --- doubles for the unit tests of the page alone (the browser session below uses none) -----------
@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Platform:
    return Platform.init(tmp_path_factory.mktemp("page") / "platform")


@pytest.fixture(scope="module")
def small_image(platform: Platform) -> bytes:
    """An image whose table of contents verifies (what the Station checks); its parts are not bundles."""
    return spi_image.build(platform, {name: name.encode() * 100 for name in spi_image.PARTS})


class CardDouble:
    def __init__(self, platform: Platform):
        self._certificate = factory_protocol.issue_card_certificate(
            platform.root_key, CARD_SID, ACCOUNT_SID, keys.raw_public(keys.generate().public_key()), 5)

    def certificate(self) -> bytes:
        return self._certificate

    def authorize(self, chip_uid: bytes, nonce: bytes) -> bytes:
        raise AssertionError("no DUT runs in these tests")


class ApiDouble:
    url = "http://127.0.0.1:9/"

    def get(self, path: str, **params: Any) -> dict:
        return {"sid": CARD_SID, "account_sid": ACCOUNT_SID, "licences": 5, "licences_used": 2,
                "licences_left": 3, "revoked": False}

    def post(self, path: str, data: dict | None = None, **kwargs: Any) -> dict:
        raise ApiError("the double has no service")


def make_app(platform: Platform, image: bytes | None = None, duts: tuple[Dut, ...] = ()):
    return station_app(CardDouble(platform), ApiDouble(), "line-1", image, list(duts))


@pytest.fixture
def client(platform: Platform, small_image: bytes):
    from fastapi.testclient import TestClient

    app = make_app(platform, small_image, (Dut("first", "127.0.0.1", 1, 2),))
    with TestClient(app, base_url=LOCAL) as test_client:
        test_client.app_token = app.state.token
        yield test_client


def add(client, token: str | None, **fields: str):
    data = {"name": "d", "host": "127.0.0.1", "debug_port": "4000", "uart_port": "4001", **fields}
    if token is not None:
        data["token"] = token
    return client.post("/duts", data=data, follow_redirects=False)


# --- the page's input checks ----------------------------------------------------------------------
def test_the_page_shows_the_card_and_the_image_and_fetches_nothing_from_outside(client, small_image):
    response = client.get("/")
    assert response.status_code == 200
    text = response.text
    assert CARD_SID in text and '<strong id="card-left">3</strong>' in text
    toc = spi_image.read(spi_image.file_reader(small_image), None).toc_hash
    assert f'id="toc-hash">{toc}<' in text
    for part in spi_image.PARTS:
        assert f"<td>{part}</td>" in text
    assert "src=" not in text and "href=" not in text and "://" not in text.replace(ApiDouble.url, "")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "'unsafe-inline'" not in policy
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("fields, words", [
    ({"debug_port": "0"}, "debug port"), ({"debug_port": "65536"}, "debug port"),
    ({"debug_port": "-1"}, "debug port"), ({"debug_port": "abc"}, "debug port"),
    ({"debug_port": "１２"}, "debug port"), ({"debug_port": ""}, "debug port"),
    ({"debug_port": "1" * 400}, "debug port"), ({"uart_port": "70000"}, "UART port"),
    ({"host": "bad host"}, "host"), ({"host": "-x.example"}, "host"), ({"host": "a..b"}, "host"),
    ({"host": "999.1.1.1"}, "host"), ({"host": "<script>"}, "host"), ({"host": ""}, "host"),
    ({"name": "x" * 65}, "name"), ({"name": "tab\there"}, "name"), ({"name": "nul\x00"}, "name"),
])
def test_a_bad_dut_is_refused_with_a_sentence(client, fields, words):
    response = add(client, client.app_token, **fields)
    assert response.status_code == 400, response.text
    assert 'role="alert"' in response.text and words in response.text
    assert client.get("/").text.count('class="logrow"') == 1  # only the DUT given at the start


def test_a_good_dut_is_added_once(client):
    response = add(client, client.app_token, name="bench 2", host="[::1]", debug_port="65535", uart_port="1")
    assert response.status_code == 303 and response.headers["location"] == "/"
    page = client.get("/").text
    assert 'data-name="bench 2"' in page and "::1 debug 65535 uart 1" in page
    assert add(client, client.app_token, name="bench 2").status_code == 409
    assert add(client, client.app_token, name="", host="dut-3.line.example").status_code == 303
    assert 'data-name="dut-3"' in client.get("/").text


@pytest.mark.parametrize("path", ["/duts", "/duts/1/start", "/image"])
def test_every_post_needs_the_pages_token(client, path):
    assert client.post(path, data={"host": "x"}, follow_redirects=False).status_code == 403
    assert client.post(path, data={"token": "guess"}, follow_redirects=False).status_code == 403
    assert client.post(path, data={"token": client.app_token[:-1]}, follow_redirects=False).status_code == 403
    foreign = client.post(path, data={"token": client.app_token}, headers={"Origin": "http://evil.example"},
                          follow_redirects=False)
    assert foreign.status_code == 403
    assert client.post(path, content=b"\xff\xfe garbage", follow_redirects=False,
                       headers={"Content-Type": "multipart/form-data; boundary=x"}).status_code in (400, 403)


def test_only_the_stations_own_host_names_are_answered(client):
    for host in ("evil.example", "evil.example:8480", "127.0.0.2", ""):
        response = client.get("/", headers={"Host": host})
        assert response.status_code == 421 and client.app_token not in response.text
    for host in ("localhost:8480", "127.0.0.1", "[::1]:8480"):
        assert client.get("/", headers={"Host": host}).status_code == 200


def test_an_upload_is_bounded_and_a_refused_image_says_why(client, small_image):
    token = client.app_token
    multipart = {"Content-Type": "multipart/form-data; boundary=b"}
    too_long = {**multipart, "Content-Length": str(MAX_UPLOAD + 1)}
    declared = client.post("/image", content=b"x", headers=too_long)
    assert declared.status_code == 413

    def chunks():  # no declared length: counted as it comes
        for _ in range(MAX_UPLOAD // 65536 + 2):
            yield b"-" * 65536

    streamed = client.post("/image", content=chunks(), headers=multipart)
    assert streamed.status_code == 413
    big = client.post("/image", data={"token": token},
                      files={"image": ("big.bin", b"\0" * (MAX_UPLOAD - 1024))})
    assert big.status_code == 413 and "at most" in big.text
    missing = client.post("/image", data={"token": token})
    assert missing.status_code == 400 and "choose the SPI image" in missing.text
    empty = client.post("/image", data={"token": token}, files={"image": ("e.bin", b"")})
    assert empty.status_code == 400
    damaged = bytearray(small_image)
    damaged[100] ^= 1
    refused = client.post("/image", data={"token": token}, files={"image": ("d.bin", bytes(damaged))})
    assert refused.status_code == 400 and "the SPI image is refused" in refused.text
    good = client.post("/image", data={"token": token}, files={"image": ("i.bin", small_image)},
                       follow_redirects=False)
    assert good.status_code == 303


def test_a_run_needs_an_image_and_a_known_dut(platform):
    from fastapi.testclient import TestClient

    app = make_app(platform, None, (Dut("first", "127.0.0.1", 1, 2),))
    with TestClient(app, base_url=LOCAL) as client:
        token = app.state.token
        assert "No image yet" in client.get("/").text
        for path, status in (("/duts/1/start", 409), ("/duts/9/start", 404), ("/duts/x/start", 404),
                             ("/duts/99999999999999999999/start", 404)):
            response = client.post(path, data={"token": token}, follow_redirects=False)
            assert response.status_code == status, (path, response.text)
        scripted = client.post("/duts/1/start", data={"token": token}, headers={"X-Station-Fetch": "1"})
        assert scripted.status_code == 409 and "upload an SPI image" in scripted.json()["error"]
        assert client.get("/events", params={"after": "-1"}).status_code == 400
        assert client.get("/events", params={"after": "1" * 40}).status_code == 400
        assert client.put("/duts").status_code == 405 and client.get("/nothing").status_code == 404


def test_a_bad_image_on_the_command_line_is_a_station_error(platform):
    with pytest.raises(StationError, match="refused"):
        make_app(platform, b"not an image" * 400)


def test_random_bodies_never_make_a_500(client):
    import random

    rng = random.Random(7)
    kinds = ["application/x-www-form-urlencoded", "multipart/form-data; boundary=zz", "multipart/form-data",
             "text/plain", "application/json"]
    for _ in range(60):
        body = rng.randbytes(rng.randrange(0, 600))
        if rng.random() < 0.5:
            body = b"token=" + client.app_token.encode() + b"&" + body
        for path in ("/duts", "/duts/1/start", "/image"):
            response = client.post(path, content=body, headers={"Content-Type": rng.choice(kinds)},
                                   follow_redirects=False)
            assert response.status_code < 500, (path, body, response.text)


def test_what_a_dut_says_is_escaped_on_the_page_and_in_the_stream(client):
    page = client.app.state.page
    page.on_event({"dut": "first", "step": 5, "status": "failed", "message": HOSTILE, "time": 1.5})
    page.on_event({"dut": "first", "step": "<b>", "status": "<i>", "message": HOSTILE * 200, "time": "x"})
    page.on_event({"dut": "first", "step": 5, "status": "done", "message": HOSTILE,
                   "result": {"passed": "yes", "reason": HOSTILE, "chip_uid": HOSTILE}})
    page.on_event({"dut": "nobody", "step": 1, "status": "running", "message": "ignored"})
    text = client.get("/").text
    assert "<img" not in text and "<script>window" not in text and "&amp;amp;" in text
    assert 'class="state failed"' in text  # "passed" must be True itself
    seq, _ = page.snapshot()
    page.close()  # the stream ends after what is there
    events = stream_events(client.get("/events", params={"after": str(seq - 3)}).text)
    assert [event["status"] for event in events] == ["failed", "log", "done"]
    assert events[0]["message"] == HOSTILE and len(events[1]["message"]) <= 2001 and events[1]["step"] is None
    resumed = client.get("/events", params={"after": str(seq - 3)}, headers={"Last-Event-ID": str(seq - 1)})
    assert [event["status"] for event in stream_events(resumed.text)] == ["done"]  # a reconnection goes on


def stream_events(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


def test_the_browser_shows_a_dut_s_words_as_text(platform):
    """The page's script writes what comes from a DUT as text: nothing of it runs."""
    app = make_app(platform, None, (Dut("first", "127.0.0.1", 1, 2),))
    with PageServer(app, "127.0.0.1", 0) as server, _browser() as browser:
        page = browser.new_page()
        page.goto(server.url)
        page.wait_for_function("document.body.dataset.seq !== undefined")
        page.wait_for_timeout(300)  # the event stream is open
        app.state.page.on_event({"dut": "first", "step": 5, "status": "running", "message": HOSTILE})
        log = page.locator("#log-1 li").last
        log.wait_for(state="attached")
        assert HOSTILE in log.text_content()
        assert page.locator("#dut-1 td.step[data-step='5']").get_attribute("class") == "step running"
        assert page.evaluate("window.pwned") is None and page.locator("#duts img").count() == 0


# --- the operator's session in a real browser, with a real service, card and DUTs --------------------
@pytest.fixture
def env(factory_env: FactoryEnv) -> FactoryEnv:
    return factory_env


class _browser:
    """Debian's Chromium driven by playwright (its own browser download is not used)."""

    def __enter__(self):
        from playwright.sync_api import sync_playwright

        if not Path(CHROMIUM).exists():
            pytest.fail("Chromium is missing: run `make setup` (apt chromium)")
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(executable_path=CHROMIUM)
        return self._browser

    def __exit__(self, *exc: object) -> None:
        self._browser.close()
        self._playwright.stop()


RECORDER = """() => {
  window.stayed = true;  // gone if the page is loaded again: what follows came live
  window.changes = [];
  new MutationObserver((records) => {
    for (const record of records) {
      const cell = record.target;
      if (cell.matches("td.step")) {
        window.changes.push([cell.closest("tr").id, Number(cell.dataset.step), cell.className.split(" ")[1]]);
      }
    }
  }).observe(document.querySelector("#duts tbody"),
              {attributes: true, attributeFilter: ["class"], subtree: true});
}"""


@pytest.mark.slow
def test_an_operator_makes_two_devices_from_the_page(env: FactoryEnv):
    from playwright.sync_api import expect

    from microvisor.factory.card import SfiCard

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    image = env.image_path.read_bytes()
    toc_hash = spi_image.read(spi_image.file_reader(image), None).toc_hash
    shots: list[str] = []

    def shot(page, name: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        shots.append(name)

    with SfiCard.open(*env.token) as card, ApiClient(env.server_url, env.account_sid, env.auth_token) as api:
        app = station_app(card, api, "line-1", None, [])
        with PageServer(app, "127.0.0.1", 0) as server, _browser() as browser:
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            outside: list[str] = []
            page.on("request", lambda request: None if request.url.startswith(server.url)
                    else outside.append(request.url))
            page.on("pageerror", lambda error: outside.append(f"script error: {error}"))
            page.goto(server.url)

            # the card, before any image
            expect(page.locator("#card-sid")).to_have_text(env.card_sid)
            expect(page.locator("#card-left")).to_have_text(str(env.licences))
            expect(page.locator("#card-state")).to_have_text("valid")
            expect(page.locator("#no-image")).to_be_visible()
            shot(page, "01-card-no-image")

            # the image: uploaded, its table of contents and parts shown
            page.set_input_files("#upload input[type=file]", str(env.image_path))
            page.click("#upload button")
            expect(page.locator("#toc-hash")).to_have_text(toc_hash)
            expect(page.locator("#parts tbody tr")).to_have_count(4)
            for row, part in enumerate(spi_image.PARTS):
                expect(page.locator("#parts tbody tr").nth(row)).to_contain_text(part)
                expect(page.locator("#parts tbody tr").nth(row).locator("td").nth(4)).to_have_text("yes")
            shot(page, "02-image")

            # two DUTs added by host, ports and name
            for number, dut in enumerate(env.duts[:2], 1):
                page.fill("#add-dut input[name=name]", f"bench {number}")
                page.fill("#add-dut input[name=host]", "127.0.0.1")
                page.fill("#add-dut input[name=debug_port]", str(dut.debug_port))
                page.fill("#add-dut input[name=uart_port]", str(dut.uart_port))
                page.click("#add-dut button")
                expect(page.locator(f"#dut-{number}")).to_have_attribute("data-state", "idle")
            expect(page.locator("#dut-1 td.step.pending")).to_have_count(10)
            shot(page, "03-duts-added")

            # both started, in parallel, watched live: the page is not loaded again
            page.evaluate(RECORDER)
            page.click("#dut-1 button.start")
            page.click("#dut-2 button.start")
            expect(page.locator("#dut-1 td.step[data-step='1']")).not_to_have_class("step pending")
            shot(page, "04-running")
            for number in (1, 2):
                row = page.locator(f"#dut-{number}")
                expect(row).to_have_attribute("data-state", "passed", timeout=90_000)
                expect(page.locator(f"#dut-{number} td.step.passed")).to_have_count(10)
                expect(page.locator(f"#dut-{number} .detail")).to_contain_text("passed")
                expect(page.locator(f"#dut-{number} .chip_uid")).to_have_text(env.duts[number - 1].chip_uid)
                expect(page.locator(f"#dut-{number} .device_sid")).to_have_text(
                    device_sid(bytes.fromhex(env.duts[number - 1].chip_uid)))
            expect(page.locator("#card-left")).to_have_text(str(env.licences - 2))
            assert page.evaluate("window.stayed") is True
            changes = page.evaluate("window.changes")
            for row in ("dut-1", "dut-2"):
                seen = [(step, state) for dut, step, state in changes if dut == row]
                assert (4, "running") in seen and (4, "passed") in seen, seen
                passed = [step for step, state in seen if state == "passed"]
                assert passed == list(range(1, 11)), f"steps turned green out of order: {seen}"
            shot(page, "05-passed")

            # the log of the first DUT, opened
            page.click("#log-1 summary")
            log = page.locator("#log-1 ol")
            expect(log).to_be_visible()
            expect(log).to_contain_text("authorized the install on chip " + env.duts[0].chip_uid)
            expect(log).to_contain_text("test: factory test: passed")
            expect(log).to_contain_text("done: passed")
            shot(page, "06-log")

            # started again, the first DUT is refused: it has left the factory; no licence is used
            page.click("#dut-1 button.start")
            expect(page.locator("#dut-1")).to_have_attribute("data-state", "failed", timeout=60_000)
            expect(page.locator("#dut-1 .detail")).to_contain_text("already left the factory")
            expect(page.locator("#dut-1 td.step[data-step='4']")).to_have_class("step failed")
            expect(page.locator("#dut-1 td.step.skipped")).to_have_count(2)
            expect(page.locator("#log-1 ol")).to_contain_text("--- run 2")
            expect(page.locator("#card-left")).to_have_text(str(env.licences - 2))
            assert page.evaluate("window.stayed") is True
            shot(page, "07-started-again-refused")
            assert outside == [], outside

        certificates = list(api.pages("/v1/Factory/Certificates", "certificates"))
        results = list(api.pages("/v1/Factory/Results", "results"))
    assert sorted(c["chip_uid"] for c in certificates) == sorted(d.chip_uid for d in env.duts[:2])
    assert sorted(r["passed"] for r in results) == [False, True, True]
    assert all((SCREENSHOTS / f"{name}.png").stat().st_size > 0 for name in shots)
