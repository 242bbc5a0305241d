"""The web console: sign-in, sessions, CSRF, headers, isolation, escaping, the plots' series."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from microvisor.cloud.app import create_app
from microvisor.cloud.clock import utc_now
from microvisor.cloud.models import Account, Deployment, WebSession
from microvisor.cloud.store import activity, crashes, deployments, device_state
from microvisor.cloud.store.accounts import set_disabled
from microvisor.cloud.store.apps import find_app
from microvisor.cloud.store.devices import find_device
from microvisor.cloud.symbolication import analyse
from microvisor.cloud.auth import hash_token as token_hash

from .conftest import Api, app_bundle

HOST = "mv.test"
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def browser(service) -> Iterator[TestClient]:
    """A client of its own (its own cookies), as one browser would be."""
    with TestClient(create_app(service), base_url=f"http://{HOST}", follow_redirects=False) as client:
        yield client


def form_token(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def sign_in(browser: TestClient, sid: str, token: str, **headers: str):
    form = browser.get("/signin")
    assert form.status_code == 200
    fields = {"AccountSid": sid, "AuthToken": token, "csrf": form_token(form.text)}
    return browser.post("/signin", data=fields, headers=headers)


def signed_in(browser: TestClient, api: Api) -> str:
    """Sign in as api's account; returns the session's form token (from the device list's sign-out form)."""
    assert sign_in(browser, api.sid, api.token).status_code == 303
    page = browser.get("/")
    assert page.status_code == 200
    return form_token(page.text)


def account_id(service, api: Api) -> int:
    with service.database.transaction() as session:
        return session.scalar(select(Account.id).where(Account.sid == api.sid))


def assert_secure(response) -> None:
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


# --- signing in and out --------------------------------------------------------------------------
def test_sign_in_sets_a_strict_http_only_session_cookie_and_stores_only_its_hash(service, api, browser):
    answer = sign_in(browser, api.sid, api.token)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = next(value for value in answer.headers.get_list("set-cookie") if value.startswith("mv_session="))
    flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= set(flags) and "secure" not in flags
    assert flags["path"] == "Path=/" and flags["samesite"].lower() == "samesite=strict"
    assert flags["max-age"] == "Max-Age=43200"
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(value) >= 43  # 32 random bytes
    with service.database.transaction() as session:
        row = session.scalar(select(WebSession).where(WebSession.token_hash == token_hash(value)))
        assert row is not None and row.account_id == account_id(service, api)
        assert session.scalar(select(WebSession).where(WebSession.token_hash == value)) is None
        assert re.fullmatch(r"[0-9a-f]{64}", row.csrf_token)
        lifetime = row.date_expires - row.date_created
        assert lifetime == datetime.timedelta(hours=12)
    page = browser.get("/")
    assert page.status_code == 200 and api.sid in page.text
    assert_secure(page)
    for label in ("Devices", "Crashes", "Deployments", "Overview", "Sign out"):
        assert f">{label}</" in page.text


def test_wrong_credentials_are_refused_and_start_no_session(api, other_api, browser):
    for sid, token in ((api.sid, other_api.token), (api.sid, "0" * 32), ("AC" + "0" * 32, api.token),
                       ("not a sid", api.token), ("", "")):
        answer = sign_in(browser, sid, token)
        assert answer.status_code == 401, (sid, answer.text)
        assert "The account SID or auth token is wrong." in answer.text
        assert not any(c.startswith("mv_session=") for c in answer.headers.get_list("set-cookie"))
        assert_secure(answer)
    assert browser.get("/").status_code == 303
    huge = browser.post("/signin", data={"AccountSid": api.sid, "AuthToken": "x" * 10_000,
                                         "csrf": form_token(browser.get("/signin").text)})
    assert huge.status_code == 400 and "AuthToken" in huge.text
    # A sign-in form not served by this site (no form cookie) is refused.
    browser.cookies.clear()
    forged = browser.post("/signin", data={"AccountSid": api.sid, "AuthToken": api.token, "csrf": "x" * 32})
    assert forged.status_code == 403 and browser.get("/").status_code == 303


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(service, api, browser):
    signed_in(browser, api)
    with service.database.transaction() as session:
        set_disabled(session, api.sid, True)
    try:
        assert browser.get("/").status_code == 303  # the session ended with the account
        answer = sign_in(browser, api.sid, api.token)
        assert answer.status_code == 403
        assert f"Account {api.sid} is disabled, so it cannot sign in." in answer.text
        assert browser.get("/").status_code == 303
    finally:
        with service.database.transaction() as session:
            set_disabled(session, api.sid, False)
    assert sign_in(browser, api.sid, api.token).status_code == 303


def test_signed_out_pages_redirect_to_the_sign_in_form_and_the_scripts_endpoints_say_401(api, browser):
    sid = api.register()["sid"]
    for path in ("/", "/crashes", "/deployments", "/overview", f"/devices/{sid}"):
        answer = browser.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/signin"), path
        assert_secure(answer)
    assert browser.get(f"/devices/{sid}").headers["location"] == f"/signin?next=%2Fdevices%2F{sid}"
    for path in ("/console/api/devices", f"/console/api/devices/{sid}/logs"):
        assert browser.get(path).status_code == 401
    # Signing in from the redirect comes back to the page asked for (and only to a page of this site).
    form = browser.get(f"/signin?next=/devices/{sid}")
    back = browser.post("/signin", data={"AccountSid": api.sid, "AuthToken": api.token,
                                         "csrf": form_token(form.text), "next": f"/devices/{sid}"})
    assert back.headers["location"] == f"/devices/{sid}"
    browser.cookies.clear()
    form = browser.get("/signin?next=//evil.example/")
    away = browser.post("/signin", data={"AccountSid": api.sid, "AuthToken": api.token,
                                         "csrf": form_token(form.text), "next": "//evil.example/"})
    assert away.headers["location"] == "/"


def test_sign_out_deletes_the_session(service, api, browser):
    csrf = signed_in(browser, api)
    value = browser.cookies.get("mv_session")
    answer = browser.post("/signout", data={"csrf": csrf})
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"
    with service.database.transaction() as session:
        assert session.scalar(select(WebSession).where(WebSession.token_hash == token_hash(value))) is None
    browser.cookies.set("mv_session", value, domain=HOST)  # the old cookie, kept by someone, is worth nothing
    assert browser.get("/").status_code == 303


def test_an_expired_session_is_refused_and_deleted_when_met(service, api, browser):
    signed_in(browser, api)
    value = browser.cookies.get("mv_session")
    with service.database.transaction() as session:
        row = session.scalar(select(WebSession).where(WebSession.token_hash == token_hash(value)))
        row.date_expires = utc_now() - datetime.timedelta(seconds=1)
    assert browser.get("/").status_code == 303
    with service.database.transaction() as session:
        assert session.scalar(select(WebSession).where(WebSession.token_hash == token_hash(value))) is None


# --- CSRF and origins --------------------------------------------------------------------------
def test_a_post_without_the_form_token_or_from_another_origin_is_refused(service, api, browser):
    csrf = signed_in(browser, api)
    refusals = [
        browser.post("/signout", data={}),
        browser.post("/signout", data={"csrf": "0" * 64}),
        browser.post("/signout", data={"csrf": csrf}, headers={"Origin": "http://evil.example"}),
        browser.post("/signout", data={"csrf": csrf}, headers={"Origin": "null"}),
        browser.post("/signout", data={"csrf": csrf}, headers={"Referer": "http://evil.example/page"}),
        browser.post("/signout", data={"csrf": csrf}, headers={"Origin": f"http://{HOST}.evil.example"}),
    ]
    for answer in refusals:
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.text.startswith("<!DOCTYPE html>")
        assert len(re.findall(r'<p class="error" role="alert">([^<]+)</p>', answer.text)) == 1
        assert_secure(answer)
    assert browser.get("/").status_code == 200  # still signed in: none of them signed out
    # The same origin, with the token in a field or the script's header, passes.
    same = browser.post("/signout", data={"csrf": csrf}, headers={"Origin": f"http://{HOST}"})
    assert same.status_code == 303 and browser.get("/").status_code == 303
    csrf = signed_in(browser, api)
    assert browser.post("/signout", headers={"X-CSRF-Token": csrf, "Referer": f"http://{HOST}/"},
                        data={}).status_code == 303
    # Another site cannot sign a person in either.
    form = browser.get("/signin")
    forged = browser.post("/signin", data={"AccountSid": api.sid, "AuthToken": api.token,
                                           "csrf": form_token(form.text)}, headers={"Origin": "http://evil.example"})
    assert forged.status_code == 403 and browser.get("/").status_code == 303


def seed_deployment(service, api: Api) -> tuple[str, str]:
    """An app and a device of api's account, and a deployment of the one to the other: their SIDs."""
    app_sid = api.upload(app_bundle()).json()["sid"]
    device_sid = api.register()["sid"]
    owner = account_id(service, api)
    with service.database.transaction() as session:
        app = find_app(session, owner, app_sid)
        device = find_device(session, owner, device_sid)
        rollout = deployments.Rollout(stages=(50, 100), halt_on_crash_rate=1.0, soak_s=3600)
        return device_sid, deployments.create(session, owner, app, [device], rollout).sid


def deployment_status(service, sid: str) -> str:
    with service.database.transaction() as session:
        return session.scalar(select(Deployment.status).where(Deployment.sid == sid))


def test_deployment_buttons_pause_and_resume_with_the_token_and_say_why_they_cannot(service, api, browser):
    _, sid = seed_deployment(service, api)
    csrf = signed_in(browser, api)
    listing = browser.get("/deployments")
    assert sid in listing.text and f'action="/deployments/{sid}/pause"' in listing.text
    assert 'class="stage" data-reached="1" data-updated="0"' in listing.text
    assert browser.post(f"/deployments/{sid}/pause", data={}).status_code == 403
    assert browser.post(f"/deployments/{sid}/pause", data={"csrf": csrf},
                        headers={"Origin": "http://evil.example"}).status_code == 403
    assert deployment_status(service, sid) == deployments.ACTIVE
    paused = browser.post(f"/deployments/{sid}/pause", data={"csrf": csrf, "back": "list"})
    assert paused.status_code == 303 and paused.headers["location"] == "/deployments"
    assert deployment_status(service, sid) == deployments.PAUSED
    again = browser.post(f"/deployments/{sid}/pause", data={"csrf": csrf})
    assert again.status_code == 409 and f"Deployment {sid} is paused; it cannot pause." in again.text
    detail = browser.get(f"/deployments/{sid}")
    assert detail.status_code == 200 and f'action="/deployments/{sid}/resume"' in detail.text
    assert f'action="/deployments/{sid}/pause"' not in detail.text and "paused" in detail.text
    resumed = browser.post(f"/deployments/{sid}/resume", data={"csrf": csrf})
    assert resumed.status_code == 303 and resumed.headers["location"] == f"/deployments/{sid}"
    assert deployment_status(service, sid) == deployments.ACTIVE
    assert browser.post(f"/deployments/{sid}/explode", data={"csrf": csrf}).status_code == 404


# --- isolation and hostile input --------------------------------------------------------------
def test_another_accounts_resources_and_malformed_references_are_404_pages(service, api, other_api, browser):
    device_sid, deployment_sid = seed_deployment(service, other_api)
    with service.database.transaction() as session:
        device = find_device(session, account_id(service, other_api), device_sid)
        report = crashes.record(session, device, None, {}, analyse({"fault": "HardFault"}, None))
        group_sid = report.group.sid
    csrf = signed_in(browser, api)
    paths = [f"/devices/{device_sid}", f"/crashes/{group_sid}", f"/deployments/{deployment_sid}",
             "/devices/UV" + "0" * 32, "/devices/" + "x" * 5000, "/devices/%00", "/devices/a%2Fb",
             "/devices/UV%0A", "/crashes/CG" + "0" * 32, "/crashes/" + "x" * 300,
             "/deployments/DP" + "0" * 32, "/deployments/%ff%fe", "/devices/a/b/c", "/console/nothing",
             "/console/static/%2E%2E%2Fapp.py", "/crashes/" + "é" * 40]
    for path in paths:
        answer = browser.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html") and "Traceback" not in answer.text
        assert "There is no such" in answer.text
        assert 'action="/signout"' in answer.text and ">Deployments</a>" in answer.text  # the navigation bar
        assert_secure(answer)
    for path in (f"/console/api/devices/{device_sid}/logs", f"/console/api/devices/{device_sid}/console"):
        assert browser.get(path).status_code == 404
    bad_after = browser.get(f"/console/api/devices/{device_sid}/logs", params={"after": "-1"})
    assert bad_after.status_code in (400, 404)
    typed = browser.post(f"/devices/{device_sid}/console", data={"csrf": csrf, "line": "hi"})
    assert typed.status_code == 404
    acted = browser.post(f"/deployments/{deployment_sid}/pause", data={"csrf": csrf})
    assert acted.status_code == 404 and deployment_status(service, deployment_sid) == deployments.ACTIVE
    assert device_sid not in browser.get("/console/api/devices").text
    assert device_sid not in browser.get("/").text and group_sid not in browser.get("/crashes").text


def test_oversized_and_malformed_forms_are_400_pages(api, browser):
    csrf = signed_in(browser, api)
    sid = api.register()["sid"]
    for answer in (
        browser.post(f"/devices/{sid}/console", data={"csrf": csrf, "line": "x" * 5000}),
        browser.post("/signout", content=b"csrf=" + b"a" * 40_000,
                     headers={"Content-Type": "application/x-www-form-urlencoded"}),
        browser.post("/signout", content=b"\xff\xfe",
                     headers={"Content-Type": "application/x-www-form-urlencoded"}),
        browser.post("/signout", content=b'{"csrf": 1}', headers={"Content-Type": "application/json"}),
        browser.get(f"/console/api/devices/{sid}/logs", params={"after": "x"}),
    ):
        assert answer.status_code == 400, answer.text
        assert "Traceback" not in answer.text
        assert_secure(answer)
    # The service in these tests runs no device link: typing is refused in one sentence, not a 500.
    typed = browser.post(f"/devices/{sid}/console", data={"csrf": csrf, "line": "help"},
                         headers={"Accept": "application/json"})
    assert typed.status_code == 503 and typed.json()["message"].startswith("This server process runs no")


# --- what devices send is escaped ------------------------------------------------------------
def test_what_a_device_sends_is_escaped_everywhere_it_shows(service, api, browser):
    name = "<img src=x onerror=alert(1)>"
    sid = api.register(UniqueName=name)["sid"]
    assert api.post(f"/v1/Devices/{sid}/Configs", data={"Key": "k<i>", "Value": SCRIPT}).status_code == 201
    secret = {"Key": "key-of-a-secret", "Value": "s3cret-value"}
    assert api.post(f"/v1/Devices/{sid}/Secrets", data=secret).status_code == 201
    with service.database.transaction() as session:
        device = find_device(session, account_id(service, api), sid)
        activity.record_logs(session, device, "boot", 0, ["before", SCRIPT])
        device.logging_enabled = True
        report = crashes.record(session, device, None, {},
                                analyse({"fault": SCRIPT, "pc": 0x0800_0401}, None))
        group_sid = report.group.sid
    signed_in(browser, api)
    pages = [browser.get("/"), browser.get(f"/devices/{sid}"), browser.get("/crashes"),
             browser.get(f"/crashes/{group_sid}")]
    for page in pages:
        assert page.status_code == 200
        assert SCRIPT not in page.text and name not in page.text
        own = '<script src="/console/static/console.js" defer></script>'
        assert "<script>" not in page.text.replace(own, "")
        assert re.search(r"<[^>]+\son\w+=", page.text) is None  # no event-handler attribute came through
    device_page = pages[1].text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in device_page and "&lt;img src=x" in device_page
    assert "k&lt;i&gt;" in device_page
    assert "s3cret-value" not in device_page and "key-of-a-secret" not in device_page  # never a secret
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[2].text and "0x08000401" in pages[3].text
    assert "&lt;img src=x" in pages[0].text
    assert browser.get("/console/api/devices").json()["devices"][0]["unique_name"] == name


def test_security_headers_on_every_kind_of_console_response(api, browser):
    answers = [browser.get("/signin"), browser.get("/"), browser.get("/console/static/console.js"),
               browser.get("/console/static/console.css"), browser.get("/console/static/other.js"),
               browser.get("/devices/nothing")]
    signed_in(browser, api)
    answers += [browser.get(path) for path in ("/", "/crashes", "/deployments", "/overview",
                                               "/console/api/devices", "/devices/UV" + "0" * 32)]
    answers.append(browser.post("/signout", data={}))
    for answer in answers:
        assert_secure(answer)
        assert answer.status_code < 500
    assert answers[2].headers["content-type"].startswith("text/javascript")
    assert answers[3].headers["content-type"].startswith("text/css")
    page = answers[6].text
    # No inline script or style: the one script and stylesheet are the console's own files.
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/console/static/console.js" defer>']
    assert "<style" not in page and " style=" not in page and "javascript:" not in page
    assert " style=" not in answers[9].text  # the overview's plots use presentation attributes only


# --- the plots --------------------------------------------------------------------------------
def series(page: str, name: str) -> list[tuple[str, str]]:
    """(time, value) of each mark of one plotted series."""
    group = re.search(rf'<g class="series" data-series="{re.escape(name)}">(.*?)</g>', page, re.S)
    assert group, f"no series {name!r}"
    return re.findall(r'data-time="([^"]+)" data-value="([^"]+)"', group.group(1))


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_overview_plots_log_lines_connections_and_crashes_per_version(service, api, other_api, browser):
    app_sid = api.upload(app_bundle()).json()["sid"]
    first, second = api.register()["sid"], api.register()["sid"]
    stranger = other_api.register()["sid"]
    now = utc_now()
    minute = now.replace(second=0, microsecond=0)
    owner = account_id(service, api)
    with service.database.transaction() as session:
        one, two = find_device(session, owner, first), find_device(session, owner, second)
        app = find_app(session, owner, app_sid)
        activity.record_logs(session, one, "a", 0, ["x"] * 2, when=minute - datetime.timedelta(seconds=580))
        activity.record_logs(session, two, "a", 0, ["x"], when=minute - datetime.timedelta(seconds=555.5))
        activity.record_logs(session, two, "b", 0, ["y"] * 5, when=minute - datetime.timedelta(seconds=90))
        activity.record_logs(session, one, "c", 0, ["old"] * 7, when=now - datetime.timedelta(hours=2))
        for second in range(70):  # one line a second from 30 minutes ago: 60 in that minute, 10 in the next
            activity.record_logs(session, one, "e", second, ["z"],
                                 when=minute - datetime.timedelta(seconds=1800 - second - 0.25))
        other = find_device(session, account_id(service, other_api), stranger)
        theirs = ["theirs"] * 11
        activity.record_logs(session, other, "d", 0, theirs, when=minute - datetime.timedelta(seconds=90))
        device_state.set_connected(session, one, True, when=now - datetime.timedelta(minutes=30))
        device_state.set_connected(session, one, False, when=now - datetime.timedelta(minutes=10))
        device_state.set_connected(session, two, True, when=now - datetime.timedelta(minutes=5))
        device_state.set_connected(session, other, True, when=now - datetime.timedelta(minutes=20))
        for device, version, count in ((one, app, 2), (two, None, 1)):
            for _ in range(count):
                crashes.record(session, device, version, {}, analyse({"fault": "HardFault"}, None),
                               when=now - datetime.timedelta(minutes=40))
    signed_in(browser, api)
    page = browser.get("/overview", params={"window": "1h"})
    assert page.status_code == 200
    assert series(page.text, "log lines") == [(stamp(minute - datetime.timedelta(minutes=30)), "60"),
                                              (stamp(minute - datetime.timedelta(minutes=29)), "10"),
                                              (stamp(minute - datetime.timedelta(minutes=10)), "3"),
                                              (stamp(minute - datetime.timedelta(minutes=2)), "5")]
    connected = [value for _, value in series(page.text, "connected devices")]
    assert connected == ["0", "1", "0", "1"]
    crash_bucket = stamp((now - datetime.timedelta(minutes=40)).replace(second=0, microsecond=0))
    assert series(page.text, app_sid) == [(crash_bucket, "2")]
    assert series(page.text, "unknown app") == [(crash_bucket, "1")]
    for label in ("Log lines per minute", "Connected devices", "Crash reports per app version", "time (UTC)",
                  "lines per minute", "devices"):
        assert f">{label}</text>" in page.text  # titles and axis labels
    assert page.text.count('class="legend-item"') == 4  # log lines, connected devices, two app versions
    # The default window (24 hours, 30-minute buckets) counts the same crashes.
    day = browser.get("/overview").text
    assert sum(int(value) for _, value in series(day, app_sid)) == 2
    assert browser.get("/overview", params={"window": "<svg>"}).status_code == 200
