"""The web console in Debian's Chromium (playwright) with a real server and device; screenshots."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import select
from sqlalchemy.orm import Session

from microvisor.cloud.database import Database, sqlite_url
from microvisor.cloud.models import Device
from microvisor.cloud.store import debug_messages

from ..conftest import ROOT
from .conftest import DeviceRun, Server, running_server, wait_until
from .test_link import create_device

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "build" / "console-screenshots"
LOGGED = "fault: reading kernel memory"  # what the example logs each time it starts, before it faults


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def rest(server: Server, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{server.url}{path}", auth=server.credentials, timeout=10, **kwargs)


@contextlib.contextmanager
def database(server: Server) -> Iterator[Session]:
    """A transaction on the running server's own database (SQLite in its data folder)."""
    opened = Database(sqlite_url(server.data / "microvisor.db"))
    try:
        with opened.transaction() as session:
            yield session
    finally:
        opened.dispose()


def create_deployment(server: Server, app_sid: str, device_sid: str) -> str:
    """A deployment that stays active (one stage soaking an hour; a crash rate above 100% halts it)."""
    created = rest(server, "POST", "/v1/Deployments", data={"App": app_sid, "Devices": [device_sid],
                                                            "Stages": "100", "HaltOnCrashRate": "1",
                                                            "SoakSeconds": "3600"})
    assert created.status_code == 201, created.text
    return created.json()["sid"]


def test_the_console_in_chromium(examples: Path, tmp_path: Path):
    """One server, one device running the fault example (it logs a line, faults, is restarted): sign in, the
    device list, a line logged after the page opened arriving live, console output and input, the crash
    group with its symbolicated frames, a deployment paused with its button, the overview's plots, a 404
    page, signing out; no CSP refusal or script error on the way, and a PNG of every page."""
    started = time.monotonic()
    with running_server(tmp_path) as server:
        sid = create_device(server, tmp_path / "dev")
        server.cli("devices", "update", sid, "--logging")
        server.cli("deploy", str(examples / "fault" / "fault.elf"), "--device", sid)  # with its ELF
        device = DeviceRun(tmp_path / "dev", server.env(), "--keep-running")
        try:
            device.wait_for(LOGGED, timeout=30)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
                try:
                    page = browser.new_page(viewport={"width": 1280, "height": 860})
                    # The page's errors, CSP refusals among them (not the statuses of pages asked for).
                    problems: list[str] = []
                    page.on("console", lambda message: message.type == "error"
                            and not message.text.startswith("Failed to load resource")
                            and problems.append(message.text))
                    page.on("pageerror", lambda error: problems.append(str(error)))
                    failed: list[tuple[int, str]] = []  # every answer over 399, the favicon's too
                    page.on("response", lambda response: response.status >= 400
                            and failed.append((response.status, response.url.removeprefix(server.url))))
                    browse(page, server, sid)
                    assert problems == [], problems
                    assert failed == [(401, "/signin"), (404, f"/devices/UV{'0' * 32}")], failed
                finally:
                    browser.close()
        finally:
            device.stop()
    print(f"web console in Chromium: {time.monotonic() - started:.1f} s")


def browse(page: Page, server: Server, sid: str) -> None:
    account, token = server.credentials
    page.goto(f"{server.url}/")
    assert page.url == f"{server.url}/signin"
    shoot(page, "01-signin")
    page.fill("input[name=AuthToken]", "not the token")
    page.fill("input[name=AccountSid]", account)
    page.click("form.signin button")
    assert page.locator("p.error").inner_text() == "The account SID or auth token is wrong."
    page.fill("input[name=AuthToken]", token)
    page.click("form.signin button")
    page.wait_for_url(f"{server.url}/")

    # The device list, refreshed by the script: the device is there, online.
    expect(page.locator("#refreshed[data-refreshes]")).to_have_count(1)
    row = page.locator("#devices tbody tr", has_text=sid)
    assert "online" in row.inner_text()
    shoot(page, "02-devices")

    # The device page: a line the device logs after the page is open arrives live.
    row.locator("a.sid").click()
    page.wait_for_url(f"{server.url}/devices/{sid}")
    expect(page.locator("#log-status")).to_have_text("Log: live.")
    before = page.locator("#log li").count()
    server.cli("devices", "update", sid, "--restart-app")
    wait_until(lambda: page.locator("#log li").count() > before, 20, "the new log line on the page")
    assert LOGGED in page.locator("#log li").last.inner_text()
    # Console output (stored here as another server process would store it) shows, its escapes defused;
    # a line typed is handed to the device link.
    expect(page.locator("#console-stream")).to_have_text("Console: live.")
    with database(server) as session:
        device_row = session.scalar(select(Device).where(Device.sid == sid))
        written = b"hello \x1b[31mconsole\x1b[0m\n> "
        debug_messages.record(session, device_row, written, stream=debug_messages.CONSOLE)
    expect(page.locator("#console-output")).to_have_text("hello ^[[31mconsole^[[0m\n> ")
    page.fill("#console-input input[name=line]", "help")
    page.click("#console-input button")
    expect(page.locator("#console-status")).to_have_text("Sent.")
    assert page.input_value("#console-input input[name=line]") == ""
    shoot(page, "03-device")

    # Crashes: the group the fault makes, its frames symbolicated from the ELF deploy uploaded.
    page.click("nav >> text=Crashes")
    def grouped() -> int:
        page.reload()
        return page.locator("a.sid[href^='/crashes/CG']").count()

    wait_until(grouped, 30, "a crash group on the crashes page", interval=1)
    shoot(page, "04-crashes")
    page.locator("a.sid[href^='/crashes/CG']").first.click()
    page.wait_for_url(re.compile(r".*/crashes/CG[0-9a-f]{32}$"))
    assert page.locator("table.frames").first.locator("code", has_text="main").count() >= 1
    assert page.locator("svg.plot.bars g.series").count() == 1  # one app version
    shoot(page, "05-crash-group")

    # A deployment, paused with its button on the deployments page.
    app_sid = rest(server, "GET", "/v1/Apps").json()["apps"][0]["sid"]
    deployment = create_deployment(server, app_sid, sid)
    page.click("nav >> text=Deployments")
    listed = page.locator("#deployments tbody tr", has_text=deployment)
    assert "active" in listed.locator(".status").inner_text()
    shoot(page, "06-deployments")
    listed.locator("button.pause").click()
    page.wait_for_url(f"{server.url}/deployments")
    status = page.locator("#deployments tbody tr", has_text=deployment).locator(".status")
    assert status.inner_text() == "paused"
    assert rest(server, "GET", f"/v1/Deployments/{deployment}").json()["status"] == "paused"
    page.locator(f"a[href='/deployments/{deployment}']").click()
    page.wait_for_url(f"{server.url}/deployments/{deployment}")
    assert page.locator("#deployment-devices tbody tr", has_text=sid).count() == 1
    assert page.locator("button.resume").count() == 1
    shoot(page, "07-deployment")

    # The overview's plots: the device's log lines and its connection are in them.
    page.click("nav >> text=Overview")
    page.get_by_role("link", name="Last hour", exact=True).click()
    page.wait_for_url(f"{server.url}/overview?window=1h")
    lines = page.locator("g.series[data-series='log lines'] rect")
    assert sum(int(value) for value in lines.evaluate_all("marks => marks.map(m => m.dataset.value)")) >= 2
    connected = page.locator("g.series[data-series='connected devices'] circle").last
    assert connected.get_attribute("data-value") == "1"
    assert page.locator(f"g.series[data-series='{app_sid}'] rect").count() >= 1
    shoot(page, "08-overview")

    # Other paths: a 404 page, then signing out ends the session.
    page.goto(f"{server.url}/devices/UV{'0' * 32}")
    assert page.locator("p.error").inner_text() == "There is no such page in this account."
    shoot(page, "09-not-found")
    page.goto(f"{server.url}/")
    page.click("form.signout button")
    page.wait_for_url(f"{server.url}/signin")
    page.goto(f"{server.url}/crashes")
    assert page.url.startswith(f"{server.url}/signin")
