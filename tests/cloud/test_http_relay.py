"""The service's HTTP requests for devices: the published result codes, destinations, size caps (real TLS)."""

from __future__ import annotations

import pytest

from microvisor.cloud.destinations import DestinationRefused, Destinations, allowed
from microvisor.cloud.http_relay import HttpRelay

from ..link.web_server import HOST, WebServer, make_ca


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    ca, certificate, key = make_ca(tmp_path_factory.mktemp("web"))
    server = WebServer(certificate, key)
    yield server, ca
    server.close()


def relay(site, **options) -> HttpRelay:
    server, ca = site
    resolve = {(HOST, server.port): "127.0.0.1"}
    return HttpRelay(Destinations(resolve, options.get("allow_private", True)), str(ca))


def get(path: str, port: int, **extra) -> dict:
    return {"method": "GET", "url": f"https://{HOST}:{port}{path}", "headers": [], "body": b"",
            "timeout_ms": 5000, **extra}


def test_a_request_reaches_the_named_host_at_the_resolved_address(site):
    server, _ = site
    answer = relay(site).perform(get("/todos/1", server.port, headers=["X-Trace: 1"]), 4096, None)
    assert answer.result == "OK" and answer.status == 200
    assert b'"completed": false' in answer.body
    assert "Content-Type: application/json" in answer.headers  # the server's own spelling
    seen = server.requests[-1]["headers"]
    assert seen["Host"] == f"{HOST}:{server.port}" and seen["X-Trace"] == "1"


def test_loopback_and_private_addresses_are_refused_by_default(site):
    server, _ = site
    answer = relay(site, allow_private=False).perform(get("/todos/1", server.port), 4096, None)
    assert answer.result == "REQUESTFAILED"
    with pytest.raises(DestinationRefused, match="private or loopback"):
        Destinations().address("localhost", 443, None)
    with pytest.raises(DestinationRefused, match="private or loopback"):
        Destinations({("intranet.test", 443): "10.1.2.3"}).address("intranet.test", 443, None)


def test_a_body_larger_than_the_receive_buffer_is_too_large(site):
    server, _ = site
    answer = relay(site).perform(get("/big?n=5000", server.port), 1024, None)
    assert answer.result == "RESPONSETOOLARGE" and answer.body == b""
    assert relay(site).perform(get("/big?n=1024", server.port), 1024, None).result == "OK"


@pytest.mark.parametrize(("change", "result"), [
    ({"method": "TRACE"}, "UNSUPPORTEDMETHOD"),
    ({"url": "http://example.com/"}, "UNSUPPORTEDURISCHEME"),
    ({"url": "ftp://example.com/"}, "UNSUPPORTEDURISCHEME"),
    ({"url": "https://[::1"}, "UNSUPPORTEDURISCHEME"),
    ({"headers": ["no colon here"]}, "INVALIDHEADERS"),
    ({"headers": ["Bad Name: x"]}, "INVALIDHEADERS"),
    ({"headers": ["X-Evil: a\r\nInjected: b"]}, "INVALIDHEADERS"),
    ({"timeout_ms": 4999}, "INVALIDTIMEOUT"),
    ({"timeout_ms": 10001}, "INVALIDTIMEOUT"),
    ({"timeout_ms": "5000"}, "INVALIDTIMEOUT"),
])
def test_bad_requests_get_the_published_results(site, change, result):
    server, _ = site
    assert relay(site).perform(get("/todos/1", server.port, **change), 4096, None).result == result


def test_a_certificate_for_another_name_fails(site, tmp_path):
    server, _ = site
    other_ca, _, _ = make_ca(tmp_path, "other.test")  # trusts a CA that did not sign the server
    answer = HttpRelay(Destinations({(HOST, server.port): "127.0.0.1"}, True), str(other_ca)).perform(
        get("/todos/1", server.port), 4096, None)
    assert answer.result == "REQUESTFAILED"


def test_the_account_allow_list(site):
    server, _ = site
    assert allowed("api.example.com", 443, "api.example.com")
    assert allowed("eu.api.example.com", 8443, "other.org, *.example.com:8443")
    assert not allowed("eu.api.example.com", 443, "*.example.com:8443")
    assert not allowed("example.com.evil.org", 443, "example.com")
    answer = relay(site).perform(get("/todos/1", server.port), 4096, "only.example.org")
    assert answer.result == "REQUESTFAILED"
    wildcard = f"*.example.test:{server.port}"
    assert relay(site).perform(get("/todos/1", server.port), 4096, wildcard).result == "OK"


@pytest.mark.parametrize("entry", ["host:443", "host:99999:127.0.0.1", "host:443:not-an-ip", ":443:1.2.3.4"])
def test_bad_resolve_entries_are_refused(entry):
    with pytest.raises(ValueError, match="HOST:PORT:ADDRESS"):
        Destinations.parse_resolve([entry])
