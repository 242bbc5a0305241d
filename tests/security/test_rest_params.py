"""Query and path parameters of the REST API: anything malformed is a 400 with the v1 error body, never a 5xx.

Numbers must be ASCII digits within a signed 64-bit row id; page tokens are only those the service gives
out; SIDs, unique names and config/secret keys are printable ASCII of bounded length. A well-formed
reference to something that does not exist stays a 404.
"""

from __future__ import annotations

import string

import pytest

from ..cloud import conftest as cloud

service, client, api = cloud.service, cloud.client, cloud.api

ERROR_FIELDS = {"code", "message", "more_info", "status"}
UNKNOWN_HEX = "0123456789abcdef" * 2

# The nine paged lists; {device} is a device of the account.
LISTS = ["/v1/Apps", "/v1/Configs", "/v1/Secrets", "/v1/SigningKeys", "/v1/Devices",
         "/v1/Devices/{device}/Configs", "/v1/Devices/{device}/Secrets", "/v1/Devices/{device}/Logs",
         "/v1/Devices/{device}/Events"]

BAD_PAGING = [
    {"Page": "99999999999999999999"},  # overflows a 64-bit integer
    {"Page": "9223372036854775807"},  # fits, but Page × PageSize (the offset) does not
    {"Page": "-1"},
    {"Page": "٣"},  # an Arabic-Indic digit
    {"PageSize": "0"},
    {"PageSize": "1001"},
    {"PageSize": "99999999999999999999"},
    {"PageSize": "1_0"},  # lax integer spellings are not ASCII digits
    {"PageToken": "PA99999999999999999999"},
    {"PageToken": "PB99999999999999999999"},
    {"PageToken": "PA9223372036854775808"},  # one past the largest row id
    {"PageToken": "PA٣"},
    {"PageToken": "PA-1"},
    {"PageToken": "PA"},
    {"PageToken": "XX1"},
]

# Every route with a path parameter, and its methods; each parameter is put to the test in turn.
ROUTES = {"/v1/Devices/{device}": "GET POST", "/v1/Devices/{device}/Logs": "GET",
          "/v1/Devices/{device}/Logs/Stream": "GET", "/v1/Devices/{device}/Events": "GET",
          "/v1/Apps/{app}": "GET DELETE", "/v1/Apps/{app}/Manifest": "GET", "/v1/Apps/{app}/Bundle": "GET",
          "/v1/SigningKeys/{signing_key}": "GET DELETE"}
for family in ("Configs", "Secrets"):
    ROUTES.update({f"/v1/{family}/{{key}}": "GET POST DELETE", f"/v1/Devices/{{device}}/{family}": "GET POST",
                   f"/v1/Devices/{{device}}/{family}/{{key}}": "GET POST DELETE"})

HOSTILE_NAMES = [
    "a" * 201,  # longer than any unique name or key
    "x" * 5000,
    "caf%C3%A9",  # non-ASCII
    "%E2%80%AE",  # a right-to-left override
    "ab%00cd",  # NUL
    "%0A",  # a control character
    "%2E%2E",  # '..'
    "%2E",  # '.'
]


def _is_error(response, status: int) -> dict:
    assert response.status_code == status, f"{response.request.url}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == ERROR_FIELDS and body["status"] == status
    assert body["code"] == (20001 if status == 400 else 20000 + status)
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.fixture
def device(api) -> str:
    return api.register(UniqueName="params-unit")["sid"]


@pytest.mark.parametrize("template", LISTS)
def test_malformed_paging_is_400(api, device, template):
    path = template.format(device=device)
    for query in BAD_PAGING:
        body = _is_error(api.get(path, params=query), 400)
        assert next(iter(query)) in body["message"], body


@pytest.mark.parametrize("template", LISTS)
def test_paging_at_the_bounds_is_served(api, device, template):
    path, largest_page = template.format(device=device), (2**63 - 1) // 1000
    for query in ({"Page": largest_page, "PageSize": 1000}, {"PageToken": f"PA{2**63 - 1}"},
                  {"PageToken": f"PB{2**63 - 1}"}, {"PageToken": "PA0"}, {"PageToken": ""}):
        response = api.get(path, params=query)
        assert response.status_code == 200, f"{path} {query}: {response.text}"
    _is_error(api.get(path, params={"Page": largest_page + 1, "PageSize": 1}), 400)


@pytest.mark.timeout(60)  # a stream that starts does not end by itself
def test_a_log_stream_starts_only_from_a_row_id(api, device):
    stream = f"/v1/Devices/{device}/Logs/Stream"
    for value in ("99999999999999999999", "9223372036854775808", "٣", "-1", "1.5", " 7"):
        _is_error(api.get(stream, params={"After": value}), 400)
        _is_error(api.get(stream, headers={"Last-Event-ID": value.encode()}), 400)


@pytest.mark.parametrize("value", HOSTILE_NAMES, ids=["long", "very-long", "non-ascii", "rtl-override", "nul",
                                                      "newline", "dot-dot", "dot"])
def test_hostile_path_parameters_are_400(api, device, value):
    valid = {"device": device, "key": "k", "app": "KA" + UNKNOWN_HEX, "signing_key": "SK" + UNKNOWN_HEX}
    form = {"Key": "k", "Value": "v"}
    for template, methods in ROUTES.items():
        for name in [name for _, name, _, _ in string.Formatter().parse(template) if name]:
            url = template.format(**{**valid, name: value})
            for method in methods.split():
                _is_error(api.request(method, url, data=form if method == "POST" else None), 400)


@pytest.mark.parametrize(("family", "well_formed", "malformed"), [
    ("/v1/Devices/{}", "UV" + UNKNOWN_HEX, "UV" + UNKNOWN_HEX.upper() + "%00"),
    ("/v1/Devices/{}/Configs", "no-such-unit", "UV" + UNKNOWN_HEX + "0" * 300),
    ("/v1/Apps/{}", "KA" + UNKNOWN_HEX, "KA" + UNKNOWN_HEX + "%09"),
    ("/v1/Apps/{}/Manifest", "no-such-app", "KA%C3%A9"),
    ("/v1/SigningKeys/{}", "SK" + UNKNOWN_HEX, "SK" + UNKNOWN_HEX[:-1]),
    ("/v1/SigningKeys/{}", "SK" + UNKNOWN_HEX, "sk" + UNKNOWN_HEX),
    ("/v1/Configs/{}", "no-such-key", "k" * 101),
    ("/v1/Secrets/{}", "no such key", "%2E%2E"),
])
def test_missing_is_404_and_malformed_is_400(api, family, well_formed, malformed):
    body = _is_error(api.get(family.format(well_formed)), 404)
    assert body["code"] == 20404
    _is_error(api.get(family.format(malformed)), 400)


def test_a_reference_is_a_sid_of_its_kind_or_a_unique_name(api, device):
    assert api.get("/v1/Devices/params-unit").json()["sid"] == device
    app = api.upload(cloud.app_bundle(), UniqueName="params app").json()
    assert api.get("/v1/Apps/params%20app").json()["sid"] == app["sid"]
    assert api.get("/v1/Apps/params app/Manifest").status_code == 200
    # Unique names never look like SIDs, so another kind's SID names nothing here.
    _is_error(api.get(f"/v1/Devices/{app['sid']}"), 400)
    _is_error(api.get(f"/v1/Apps/{device}/Bundle"), 400)
