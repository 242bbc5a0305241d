"""Signing keys of an account (/v1/SigningKeys) and the upload rule: a signed bundle is accepted only
when every signature is by a key the account registered and verifies over the manifest."""

from __future__ import annotations

import base64
import re

from cryptography.hazmat.primitives.asymmetric import ec

from microvisor.common import keys
from microvisor.common.bundle import Bundle
from microvisor.common.manifest_schema import OpaqueManifest

from .conftest import app_bundle


def _hex(key: keys.PrivateKey) -> str:
    return f"{keys.signer_id(key.public_key()):016x}"


def _stored(api, app_sid: str) -> Bundle:
    manifest = api.get(f"/v1/Apps/{app_sid}/Manifest").json()
    return Bundle(OpaqueManifest.FromString(base64.b64decode(manifest["encoded_bytes"])))


def test_register_list_fetch_delete(api):
    key = keys.generate()
    created = api.register_key(key, FriendlyName="laptop")
    assert set(created) == {"sid", "account_sid", "signer_id", "public_key", "friendly_name", "date_created",
                            "url"}
    assert re.fullmatch(r"SK[0-9a-f]{32}", created["sid"])
    assert created["account_sid"] == api.sid and created["friendly_name"] == "laptop"
    assert created["signer_id"] == _hex(key)
    assert keys.public_pem(key.public_key()).decode() == created["public_key"]
    assert created["url"] == f"http://mv.test/v1/SigningKeys/{created['sid']}"
    assert created["date_created"].endswith("Z")

    assert api.get(f"/v1/SigningKeys/{created['sid']}").json() == created
    unnamed = api.register_key(keys.generate())
    assert unnamed["friendly_name"] is None
    listed = api.get("/v1/SigningKeys", params={"PageSize": 1}).json()
    assert listed["signing_keys"] == [created] and listed["meta"]["key"] == "signing_keys"
    following = api.get(listed["meta"]["next_page_url"]).json()
    assert following["signing_keys"] == [unnamed] and following["meta"]["next_page_url"] is None

    assert api.delete(f"/v1/SigningKeys/{created['sid']}").status_code == 204
    assert api.get(f"/v1/SigningKeys/{created['sid']}").status_code == 404
    assert api.delete(f"/v1/SigningKeys/{created['sid']}").status_code == 404
    assert [k["sid"] for k in api.get("/v1/SigningKeys").json()["signing_keys"]] == [unnamed["sid"]]


def test_a_key_registered_twice_or_not_a_p256_public_key_is_refused(api):
    key = keys.generate()
    first = api.register_key(key)
    again = api.post("/v1/SigningKeys", data={"PublicKey": keys.public_pem(key.public_key()).decode()})
    assert again.status_code == 409 and first["sid"] in again.json()["message"]

    def refused(pem: str) -> str:
        response = api.post("/v1/SigningKeys", data={"PublicKey": pem})
        assert response.status_code == 400, response.text
        return response.json()["message"]

    assert "private key" in refused(keys.private_pem(keys.generate()).decode())
    assert "PEM" in refused("not a key")
    other_curve = ec.generate_private_key(ec.SECP384R1()).public_key()
    assert "P-256" in refused(keys.public_pem(other_curve).decode())
    assert "PublicKey is required" in api.post("/v1/SigningKeys", data={}).json()["message"]
    pem = keys.public_pem(keys.generate().public_key()).decode()
    too_long = api.post("/v1/SigningKeys", data={"PublicKey": pem, "FriendlyName": "x" * 201})
    assert too_long.status_code == 400


def test_keys_are_the_accounts_own(api, other_api):
    key = keys.generate()
    mine = api.register_key(key)
    assert other_api.get(f"/v1/SigningKeys/{mine['sid']}").status_code == 404
    assert other_api.delete(f"/v1/SigningKeys/{mine['sid']}").status_code == 404
    assert other_api.get("/v1/SigningKeys").json()["signing_keys"] == []
    # Another account's key does not let this one upload bundles signed by it …
    refused = other_api.upload(app_bundle(key=key))
    assert refused.status_code == 400 and _hex(key) in refused.json()["message"]
    # … until it registers the key itself.
    theirs = other_api.register_key(key)
    assert theirs["sid"] != mine["sid"]
    assert other_api.upload(app_bundle(key=key)).status_code == 201
    assert api.get(f"/v1/SigningKeys/{mine['sid']}").status_code == 200


def test_bundle_signed_by_an_unknown_key_is_refused(api):
    stranger = keys.generate()
    response = api.upload(app_bundle(key=stranger))
    assert response.status_code == 400
    message = response.json()["message"]
    assert f"signed by key {_hex(stranger)} that this account has not registered" in message
    assert api.get("/v1/Apps").json()["apps"] == []

    # One unknown countersignature is enough to refuse a bundle a registered key signed.
    customer = keys.generate()
    api.register_key(customer)
    both = app_bundle(key=customer)
    both.sign(stranger)
    response = api.upload(both)
    assert response.status_code == 400 and _hex(stranger) in response.json()["message"]


def test_bundle_signed_by_a_registered_key_is_accepted_and_co_signed(api, service):
    customer, colleague = keys.generate(), keys.generate()
    api.register_key(customer)
    api.register_key(colleague)
    bundle = app_bundle(key=customer)
    bundle.sign(colleague)
    response = api.upload(bundle)
    assert response.status_code == 201, response.text
    stored = _stored(api, response.json()["sid"])
    assert stored.manifest.signer_id == keys.signer_id(customer.public_key())  # still the primary
    assert stored.signed_by(customer.public_key()) and stored.signed_by(colleague.public_key())
    assert stored.signed_by(service.platform.app_key.public_key())
    assert len(stored.signatures()) == 3 and stored.manifest_hash == bundle.manifest_hash


def test_tampered_manifest_signed_by_a_registered_key_is_refused(api):
    customer = keys.generate()
    api.register_key(customer)
    bundle = app_bundle(key=customer)
    body = bundle.app_body()
    body.update.maximum_politeness_time_sec += 60  # changed after signing
    bundle.manifest.body = body.SerializeToString(deterministic=True)
    response = api.upload(bundle)
    assert response.status_code == 400
    assert f"its signature by key {_hex(customer)} does not verify" in response.json()["message"]

    # The same signature twice by one key cannot hide a bad one behind a good one.
    doubled = app_bundle(key=customer)
    doubled.manifest.countersignatures.add(signer_id=doubled.manifest.signer_id, signature=b"\x01" * 64)
    response = api.upload(doubled)
    assert response.status_code == 400 and "more than one signature" in response.json()["message"]


def test_unsigned_bundle_is_accepted_and_an_unregistered_key_is_refused_again(api, other_api, service):
    unsigned = api.upload(app_bundle())
    assert unsigned.status_code == 201, unsigned.text
    stored = _stored(api, unsigned.json()["sid"])
    assert [signer for signer, _ in stored.signatures()] == [
        keys.signer_id(service.platform.app_key.public_key())]

    # A bundle as the service gives it back carries the platform's own signature: that one counts.
    downloaded = api.get(f"/v1/Apps/{unsigned.json()['sid']}/Bundle").content
    assert other_api.upload(downloaded).status_code == 201

    customer = keys.generate()
    registered = api.register_key(customer)
    assert api.upload(app_bundle(key=customer)).status_code == 201
    assert api.delete(f"/v1/SigningKeys/{registered['sid']}").status_code == 204
    again = api.upload(app_bundle(key=customer))
    assert again.status_code == 400 and "has not registered" in again.json()["message"]
    assert len(api.get("/v1/Apps").json()["apps"]) == 2  # apps accepted before stay
