"""App upload: the service checks bundles, co-signs them, and keeps layers once by hash."""

from __future__ import annotations

import base64
import os

from microvisor.cloud.store.layers import stored_layer_count
from microvisor.common import keys
from microvisor.common.bundle import Bundle, app_image_spans
from microvisor.common.manifest_schema import OpaqueManifest

from .conftest import app_bundle, layer_hash


def test_upload_co_signs_and_keeps_the_customer_signature_first(api, service):
    customer = keys.generate()
    api.register_key(customer)
    bundle = app_bundle(key=customer)
    response = api.upload(bundle, UniqueName="blinky")
    assert response.status_code == 201, response.text
    app = response.json()
    assert app["sid"].startswith("KA") and len(app["sid"]) == 34
    assert app["account_sid"] == api.sid and app["unique_name"] == "blinky"
    assert app["hash"] == f"sha256:{bundle.manifest_hash}"
    assert app["links"]["app_manifests"] == f"{app['url']}/Manifest"

    manifest = api.get(f"/v1/Apps/{app['sid']}/Manifest").json()
    assert manifest["app_sid"] == app["sid"] and manifest["hash"] == app["hash"]
    stored = Bundle(OpaqueManifest.FromString(base64.b64decode(manifest["encoded_bytes"])))
    assert stored.manifest.signer_id == keys.signer_id(customer.public_key())
    assert stored.signed_by(customer.public_key())
    assert stored.signed_by(service.platform.app_key.public_key())
    assert stored.manifest_hash == bundle.manifest_hash

    by_name = api.get("/v1/Apps/blinky").json()
    assert by_name["sid"] == app["sid"]
    downloaded = Bundle.from_bytes(api.get(f"/v1/Apps/{app['sid']}/Bundle").content)
    assert downloaded.signed_by(service.platform.app_key.public_key())
    assert app_image_spans(downloaded) == app_image_spans(bundle)


def test_unsigned_bundle_is_accepted_and_signed_by_the_platform(api, service):
    response = api.upload(app_bundle())
    assert response.status_code == 201, response.text
    manifest = api.get(f"/v1/Apps/{response.json()['sid']}/Manifest").json()
    stored = Bundle(OpaqueManifest.FromString(base64.b64decode(manifest["encoded_bytes"])))
    assert stored.signatures() and stored.signed_by(service.platform.app_key.public_key())


def test_two_apps_sharing_a_layer_store_it_once(api, other_api, service):
    image = os.urandom(200)
    first, second = app_bundle(image, politeness=10), app_bundle(image, politeness=20)
    assert first.manifest_hash != second.manifest_hash
    for bundle in (first, second):
        assert api.upload(bundle).status_code == 201
    assert other_api.upload(app_bundle(image, politeness=30)).status_code == 201
    digest = layer_hash(image)
    with service.database.transaction() as session:
        assert stored_layer_count(session, {digest}) == 1

    # The layer stays while any app uses it and goes with the last one.
    apps = api.get("/v1/Apps").json()["apps"] + other_api.get("/v1/Apps").json()["apps"]
    for owner, app in zip((api, api, other_api), apps, strict=True):
        assert owner.delete(f"/v1/Apps/{app['sid']}").status_code == 204
    with service.database.transaction() as session:
        assert stored_layer_count(session, {digest}) == 0


def test_tampered_layer_is_refused(api):
    bundle = app_bundle()
    digest = next(iter(bundle.layers))
    bundle.layers[digest] = bundle.layers[digest][:-1] + b"\x01"
    response = api.upload(bundle)
    assert response.status_code == 400
    assert "tampered" in response.json()["message"]


def test_manifest_altered_after_signing_is_refused(api):
    key = keys.generate()
    api.register_key(key)
    bundle = app_bundle(key=key)
    bundle.manifest.signature = bundle.manifest.signature[:-1] + bytes([bundle.manifest.signature[-1] ^ 1])
    response = api.upload(bundle)
    assert response.status_code == 400
    assert "does not verify" in response.json()["message"]

    forged = app_bundle(key=key)
    forged.manifest.signer_id ^= 1  # a signature claimed by another key
    assert api.upload(forged).status_code == 400


def test_not_a_bundle_duplicates_and_names(api):
    assert api.upload(b"not a zip").status_code == 400
    bundle = app_bundle()
    first = api.upload(bundle, UniqueName="same")
    assert first.status_code == 201
    again = api.upload(bundle)
    assert again.status_code == 409 and first.json()["sid"] in again.json()["message"]
    assert api.upload(app_bundle(), UniqueName="same").status_code == 409
    assert api.upload(app_bundle(), UniqueName="KA" + "0" * 32).status_code == 400
    missing = api.post("/v1/Apps", data={"UniqueName": "x"})
    assert missing.status_code == 400 and "File" in missing.json()["message"]


def test_targeted_app_cannot_be_deleted(api):
    app = api.upload(app_bundle()).json()
    device = api.register()
    assert api.post(f"/v1/Devices/{device['sid']}", data={"TargetApp": app["sid"]}).status_code == 200
    assert api.delete(f"/v1/Apps/{app['sid']}").status_code == 409
    assert api.post(f"/v1/Devices/{device['sid']}", data={"TargetApp": ""}).status_code == 200
    assert api.delete(f"/v1/Apps/{app['sid']}").status_code == 204
    assert api.get(f"/v1/Apps/{app['sid']}").status_code == 404
