"""Fixtures for the service: one per database backend (SQLite, PostgreSQL), a fresh account per test."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from microvisor.cloud.app import create_app
from microvisor.cloud.service import ServerSettings, Service, start_service
from microvisor.cloud.store.accounts import create_account
from microvisor.common import keys
from microvisor.common.bundle import Bundle, build_app
from microvisor.common.manifest_schema import AppBody

from .postgres import throwaway_database


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def service(request, tmp_path_factory) -> Iterator[Service]:
    """A started service (platform, migrated database) on each backend."""
    data = tmp_path_factory.mktemp(f"server-{request.param}")
    if request.param == "sqlite":
        startup = start_service(ServerSettings(data))
        yield startup.service
        startup.service.close()
        return
    with throwaway_database() as url:
        startup = start_service(ServerSettings(data, database_url=url))
        yield startup.service
        startup.service.close()


@pytest.fixture(scope="session")
def client(service) -> Iterator[TestClient]:
    with TestClient(create_app(service), base_url="http://mv.test") as test_client:
        yield test_client


@dataclass
class Api:
    """A client signed in as one account."""

    client: TestClient
    sid: str
    token: str

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        kwargs.setdefault("auth", (self.sid, self.token))
        return self.client.request(method, path, **kwargs)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def register(self, **fields) -> dict:
        """Register a new device with a fresh key; returns the registration resource."""
        fields.setdefault("ChipUid", os.urandom(12).hex())
        if "Csr" not in fields:
            fields.setdefault("PublicKey", keys.public_pem(keys.generate().public_key()).decode())
        response = self.post("/v1/Devices", data=fields)
        assert response.status_code == 201, response.text
        return response.json()

    def register_key(self, key: keys.PrivateKey | keys.PublicKey, **fields) -> dict:
        """Register a bundle-signing key with the account; returns the signing key resource."""
        public = key.public_key() if isinstance(key, keys.PrivateKey) else key
        fields["PublicKey"] = keys.public_pem(public).decode()
        response = self.post("/v1/SigningKeys", data=fields)
        assert response.status_code == 201, response.text
        return response.json()

    def upload(self, bundle: Bundle | bytes, **fields) -> httpx.Response:
        data = bundle if isinstance(bundle, bytes) else bundle.to_bytes()
        return self.post("/v1/Apps", files={"File": ("app.zip", data, "application/zip")}, data=fields)


def new_account(service: Service, client: TestClient) -> Api:
    with service.database.transaction() as session:
        account, token = create_account(session, "test")
        sid = account.sid
    return Api(client, sid, token)


@pytest.fixture
def api(service, client) -> Api:
    return new_account(service, client)


@pytest.fixture
def other_api(service, client) -> Api:
    return new_account(service, client)


def app_bundle(image: bytes | None = None, *, politeness: int = 0,
               key: keys.PrivateKey | None = None) -> Bundle:
    """An application bundle for a made-up image (unique unless given), optionally signed."""
    body = AppBody()
    body.update.maximum_politeness_time_sec = politeness
    bundle = build_app(image if image is not None else os.urandom(64) + b"\x00" * 1024, body)
    if key is not None:
        bundle.sign(key)
    return bundle


def layer_hash(image: bytes) -> str:
    return hashlib.sha256(image).hexdigest()


# The published v1 document (Apache 2.0), copied from shared/reference/.
REFERENCE = Path(__file__).resolve().parent / "microvisor-rest-v1.openapi.json"
