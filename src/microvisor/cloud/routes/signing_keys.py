"""Signing keys (this service's addition): the public keys an account signs app bundles with.

An upload signed by a key that is not registered here is refused; see intake."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request, Response

from .. import paging, params, resources, schemas
from ..auth import CurrentCaller
from ..models import SigningKey
from ..paging import PageParams
from ..store import signing_keys
from .context import ERRORS, ServiceDep, base_url

router = APIRouter(responses=ERRORS)
TAG = "MicrovisorV1SigningKey"
KeyPath = Annotated[params.SigningKeySid, Path(alias="Sid", description="The signing key SID (SK…).")]


@router.get("/v1/SigningKeys", operation_id="ListSigningKey", tags=[TAG],
            response_model=schemas.ListSigningKeyResponse)
def list_signing_keys(request: Request, service: ServiceDep, caller: CurrentCaller, page: PageParams) -> dict:
    """Retrieve a list of the Account's registered signing keys."""
    with service.database.transaction() as session:
        found = paging.fetch(session, signing_keys.signing_keys_statement(caller.account_id), SigningKey.id,
                             page)
        items = [resources.signing_key(base_url(request), caller.account_sid, row) for row in found.rows]
    return paging.envelope(request, "signing_keys", items, found, page)


@router.post("/v1/SigningKeys", operation_id="CreateSigningKey", tags=[TAG], status_code=201,
             response_model=schemas.SigningKey)
def create_signing_key(
    request: Request, service: ServiceDep, caller: CurrentCaller,
    public_key: Annotated[str, Form(alias="PublicKey", description="PEM P-256 public key.")],
    friendly_name: Annotated[str | None, Form(alias="FriendlyName")] = None,
) -> dict:
    """Register a public key the Account signs app bundles with (409 when it is registered already)."""
    with service.database.transaction() as session:
        row = signing_keys.create_signing_key(session, caller.account_id, public_key, friendly_name)
        return resources.signing_key(base_url(request), caller.account_sid, row)


@router.get("/v1/SigningKeys/{Sid}", operation_id="FetchSigningKey", tags=[TAG],
            response_model=schemas.SigningKey)
def fetch_signing_key(request: Request, service: ServiceDep, caller: CurrentCaller, sid: KeyPath) -> dict:
    """Fetch a specific signing key."""
    with service.database.transaction() as session:
        row = signing_keys.find_signing_key(session, caller.account_id, sid)
        return resources.signing_key(base_url(request), caller.account_sid, row)


@router.delete("/v1/SigningKeys/{Sid}", operation_id="DeleteSigningKey", tags=[TAG], status_code=204)
def delete_signing_key(service: ServiceDep, caller: CurrentCaller, sid: KeyPath) -> Response:
    """Unregister a signing key: later uploads signed by it are refused; apps already accepted stay."""
    with service.database.transaction() as session:
        row = signing_keys.find_signing_key(session, caller.account_id, sid)
        signing_keys.delete_signing_key(session, row)
    return Response(status_code=204)
