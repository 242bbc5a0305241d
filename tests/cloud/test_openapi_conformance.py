"""Conformance with the published v1 OpenAPI document: every operation exists in our generated
OpenAPI, with its parameters and form fields, and real responses validate against its schemas."""

from __future__ import annotations

import os

from microvisor.common import keys

from .conftest import app_bundle
from .openapi_check import operations, problems, response_schema


def _form_fields(ours: dict, operation: dict) -> set[str]:
    schema = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    if "$ref" in schema:
        schema = ours["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return set(schema.get("properties", {}))


def test_every_documented_operation_is_served(client):
    ours = client.app.openapi()
    assert len(operations()) == 27
    for path, method, documented in operations():
        served = ours["paths"].get(path, {}).get(method)
        assert served is not None, f"{method.upper()} {path} is not served"
        assert served["operationId"] == documented["operationId"]
        our_parameters = {(p["name"], p["in"]) for p in served.get("parameters", [])}
        for parameter in documented.get("parameters", []):
            assert (parameter["name"], parameter["in"]) in our_parameters, (path, method, parameter["name"])
        if "requestBody" in documented:
            wanted = set(documented["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
                         .get("properties", {}))
            assert wanted <= _form_fields(ours, served), (path, method)
        for status in documented["responses"]:
            assert status in served["responses"], (path, method, status)
        assert served.get("security") == [{"accountSid_authToken": []}], (path, method)


def test_real_responses_validate_against_the_document(api):
    documented = {operation["operationId"]: operation for _, _, operation in operations()}
    exercised: set[str] = set()

    def call(operation_id: str, method: str, path: str, **kwargs):
        response = api.request(method, path, **kwargs)
        operation = documented[operation_id]
        assert response.status_code < 300, f"{operation_id}: {response.status_code} {response.text}"
        schema = response_schema(operation, response.status_code)
        if schema is not None:
            assert problems(schema, response.json()) == [], operation_id
        exercised.add(operation_id)
        return response

    customer = keys.generate()
    api.register_key(customer)
    app = api.upload(app_bundle(key=customer), UniqueName="conformance").json()
    device = api.register(ChipUid=os.urandom(12).hex())["sid"]
    call("ListApp", "GET", "/v1/Apps")
    call("FetchApp", "GET", f"/v1/Apps/{app['sid']}")
    call("FetchAppManifest", "GET", f"/v1/Apps/{app['sid']}/Manifest")
    call("ListDevice", "GET", "/v1/Devices")
    call("FetchDevice", "GET", f"/v1/Devices/{device}")
    updated = call("UpdateDevice", "POST", f"/v1/Devices/{device}",
                   data={"TargetApp": app["sid"], "UniqueName": "unit-7", "LoggingEnabled": "true"}).json()
    assert set(updated["app"]) >= {"target_sid", "date_targeted", "update_status", "update_error_code",
                                   "reported_sid", "date_reported"}
    assert updated["app"]["update_status"] in ("up-to-date", "pending", "error")
    assert set(updated["logging"]) == {"enabled", "date_expires"}
    call("UpdateDevice", "POST", f"/v1/Devices/{device}", data={"RestartApp": "true"})
    for family in ("Config", "Secret"):
        plural = f"{family}s"
        for owner, base in (("Account", "/v1"), ("Device", f"/v1/Devices/{device}")):
            call(f"Create{owner}{family}", "POST", f"{base}/{plural}",
                 data={"Key": "first", "Value": "place"})
            call(f"List{owner}{family}", "GET", f"{base}/{plural}")
            call(f"Fetch{owner}{family}", "GET", f"{base}/{plural}/first")
            call(f"Update{owner}{family}", "POST", f"{base}/{plural}/first", data={"Value": "elsewhere"})
            call(f"Delete{owner}{family}", "DELETE", f"{base}/{plural}/first")
    call("UpdateDevice", "POST", f"/v1/Devices/{device}", data={"TargetApp": ""})
    call("DeleteApp", "DELETE", f"/v1/Apps/{app['sid']}")
    assert exercised == set(documented)
