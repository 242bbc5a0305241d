"""A property-based run of the service's own OpenAPI (schemathesis): no 5xx, every response as documented.

The app publishes its OpenAPI; schemathesis sends every operation its coverage cases (boundary values,
missing and mistyped parameters, unsupported methods) and requests it generates at random, valid and
invalid, as a real account (HTTP Basic) against the real app and database. Half the valid requests of an
operation with path parameters name resources the account has, so real answers are checked, not only
404s. Every response must be no server error and have a documented status code, content type, headers
(Allow too) and body; an invalid request must be refused with a 4xx, and none may pass without its
credentials. A request that the schema allows may still be refused, with a documented 400: a public key
that is no PEM key, an upload that is no bundle, a TargetApp the account lacks; so success for every
such request is not asked for.
"""

from __future__ import annotations

import base64
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from microvisor.cloud.app import create_app
from microvisor.cloud.service import Service
from microvisor.cloud.store import factory
from microvisor.common import keys

from ..cloud import conftest as cloud

service, client, api = cloud.service, cloud.client, cloud.api

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection, missing_required_header, unsupported_method,
          allow_header_conformance, ignored_auth]
VALID, INVALID = 20, 8  # generated requests per operation (some 37), on each backend
KEY = "fuzz key"


class HangUpOnceAnswered:
    """The client goes as soon as a response has begun, so a live log stream ends (it ends only then)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answered = False

        async def sent(message: Message) -> None:
            nonlocal answered
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        async def received() -> Message:
            return {"type": "http.disconnect"} if answered else await receive()

        await self.app(scope, received, sent)


class RecordingLink:
    """Stands in for the link worker the app's service runs without here: what POST …/Debug and
    …/Console hand it is kept, so the routes answer as with a link (202), not 503."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    def send(self, device_sid: str, kind: str, payload: bytes) -> None:
        """Keep what would have been published."""
        self.sent.append((device_sid, kind, payload))

    def console_input(self, device_sid: str, data: bytes) -> None:
        """Keep console input that would have been passed on."""
        self.sent.append((device_sid, "console", data))


def _resources(service: Service, api: cloud.Api) -> dict[str, str]:
    """A device that targets an app, a signing key, a config and a secret of each owner, a factory card."""
    device = api.register(UniqueName="fuzz-unit")["sid"]
    app = api.upload(cloud.app_bundle(), UniqueName="fuzz-app").json()["sid"]
    signing_key = api.register_key(keys.generate())["sid"]
    assert api.post(f"/v1/Devices/{device}", data={"TargetApp": app, "LoggingEnabled": "true"}).is_success
    for owner in ("/v1", f"/v1/Devices/{device}"):
        for family in ("Configs", "Secrets"):
            assert api.post(f"{owner}/{family}", data={"Key": KEY, "Value": "v"}).status_code == 201
    with service.database.transaction() as session:
        card = factory.create_card(session, api.sid, keys.raw_public(keys.generate().public_key()), 5).sid
    service.link.app_reported(device, api.get(f"/v1/Apps/{app}").json()["hash"].split(":")[1])
    crash = service.link.crashed(device, {"format": "microvisor-crash-report", "fault": "UsageFault",
                                          "fault_status": {"cfsr": 1 << 25}, "pc": 0x08000400})
    group = api.get(f"/v1/Crashes/{crash}").json()["group_sid"]
    deployment = api.post("/v1/Deployments", data={"App": app, "Devices": [device]}).json()["sid"]
    return {"device": device, "app": app, "signing_key": signing_key, "card": card, "crash": crash,
            "crash_group": group, "deployment": deployment}


def _known(path: str, names: list[str], resources: dict[str, str]) -> dict[str, str]:
    """Path parameters naming the account's own resources."""
    sid = {"/v1/Devices": "device", "/v1/Apps": "app", "/v1/SigningKeys": "signing_key",
           "/v1/Factory/Cards": "card", "/v1/Factory/Certificates": "device", "/v1/Crashes": "crash",
           "/v1/CrashGroups": "crash_group", "/v1/Deployments": "deployment"}
    chosen = {"DeviceSid": resources["device"], "AppSid": resources["app"], "Key": KEY}
    if "Sid" in names:
        chosen["Sid"] = resources[next(kind for prefix, kind in sid.items() if path.startswith(prefix))]
    return {name: chosen[name] for name in names}


class Findings:
    """Sends cases and keeps one example of each distinct failure of each operation."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str], str] = {}
        self.sent = 0

    def check(self, case: schemathesis.Case, headers: dict[str, str] | None = None) -> None:
        """Send case (with headers, which a case that leaves a header out still leaves out) and check the
        response."""
        self.sent += 1
        try:
            case.validate_response(case.call(headers=headers), checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                self._file(case, failure.title, failure.message)
        except Failure as failure:
            self._file(case, failure.title, failure.message)
        except Exception as error:  # the app raised: the client re-raises it after the 500 it sent
            self._file(case, f"server error: {type(error).__name__}", str(error))

    def fuzz(self, strategy: SearchStrategy[schemathesis.Case], examples: int) -> None:
        @given(case=strategy)
        @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def send(case: schemathesis.Case) -> None:
            self.check(case)

        send()

    def _file(self, case: schemathesis.Case, title: str, message: str) -> None:
        example = f"{message.strip()}\n    {case.as_curl_command()}"
        self.found.setdefault((case.operation.label, title), example)

    def report(self) -> str:
        return "\n".join(f"{label}: {title}\n  {example}"
                         for (label, title), example in sorted(self.found.items()))


@pytest.mark.timeout(150)
def test_the_api_keeps_to_its_own_openapi(service: Service, api: cloud.Api, monkeypatch):
    monkeypatch.setattr(service, "worker", RecordingLink())
    resources = _resources(service, api)
    credentials = base64.b64encode(f"{api.sid}:{api.token}".encode()).decode()
    coverage_auth = {"Authorization": f"Basic {credentials}"}  # generated requests take it from config
    findings = Findings()
    config = schemathesis.Config.from_dict({"auth": {"basic": {"username": api.sid, "password": api.token}}})
    schema = schemathesis.openapi.from_asgi("/openapi.json", HangUpOnceAnswered(create_app(service)),
                                            config=config)
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()  # raises for an operation schemathesis cannot read
        for case in schema.iter_coverage_cases(
                operation, generation_modes=list(schemathesis.GenerationMode),
                generation_config=schema.config.generation_for(operation=operation, phase="coverage")):
            findings.check(case, coverage_auth)
        valid = operation.as_strategy()
        names = [parameter.name for parameter in operation.path_parameters]
        if names:
            known = _known(operation.path, names, resources)
            valid = st.one_of(valid, operation.as_strategy(path_parameters=known))
        findings.fuzz(valid, VALID)
        findings.fuzz(operation.as_strategy(schemathesis.GenerationMode.NEGATIVE), INVALID)
    took = time.monotonic() - started
    assert not findings.found, (f"{len(findings.found)} distinct failures in {findings.sent} requests "
                                f"({took:.0f} s):\n{findings.report()}")
