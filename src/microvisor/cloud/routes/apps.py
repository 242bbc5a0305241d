"""Apps: upload a bundle (the service checks and co-signs it), list, fetch, delete, manifest, bundle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Request, Response, UploadFile

from .. import paging, params, resources, schemas, symbolication
from ..auth import CurrentCaller
from ...common.bundle import MAX_BUNDLE_FILE, app_image_spans
from ..errors import InvalidRequest
from ..intake import accept_bundle, read_bundle, signer_ids
from ..models import App
from ..paging import PageParams
from ..store import apps, crashes
from ..store.signing_keys import registered_keys
from .context import ERRORS, ServiceDep, base_url

router = APIRouter(responses=ERRORS)
TAG, MANIFEST_TAG = "MicrovisorV1App", "MicrovisorV1AppManifest"
AppPath = Annotated[params.AppReference, Path(alias="Sid", description="The app SID or unique name.")]


@router.get("/v1/Apps", operation_id="ListApp", tags=[TAG], response_model=schemas.ListAppResponse)
def list_apps(request: Request, service: ServiceDep, caller: CurrentCaller, page: PageParams) -> dict:
    """Retrieve a list of all Apps for an Account."""
    with service.database.transaction() as session:
        found = paging.fetch(session, apps.apps_statement(caller.account_id), App.id, page)
        items = [resources.app(base_url(request), caller.account_sid, row) for row in found.rows]
    return paging.envelope(request, "apps", items, found, page)


@router.post("/v1/Apps", operation_id="CreateApp", tags=[TAG], status_code=201, response_model=schemas.App)
def create_app(
    request: Request, service: ServiceDep, caller: CurrentCaller,
    bundle: Annotated[UploadFile, File(alias="File", description="The app bundle (ZIP).")],
    unique_name: Annotated[params.UniqueName | None, Form(alias="UniqueName")] = None,
    elf: Annotated[UploadFile | None, File(alias="Elf", description="The application's ELF, for symbolicated "
                                           "crash reports: a 32-bit Arm ELF of at most 8 MiB whose every "
                                           "loadable byte is the bundle's at the same address.")] = None,
) -> dict:
    """Upload an app bundle (this service's addition; the published API uploads elsewhere).

    The bundle may be unsigned (development) or signed; every signature it carries must be by a
    key this account registered (/v1/SigningKeys) and verify over its manifest, and every layer
    must match its hashes, or the upload is refused (400). The service co-signs the manifest with
    the platform's app key (a customer signature stays the primary one) and stores the layers
    once by SHA-256.

    With Elf, the application's ELF is kept for its crash reports (stored once by the SHA-256 of its
    bytes); it is refused (400) unless it loads exactly the bundle's bytes."""
    parsed = read_bundle(bundle.file.read(MAX_BUNDLE_FILE + 1))
    elf_data = elf.file.read(symbolication.MAX_ELF_SIZE + 1) if elf is not None else None
    identity = None
    if elf_data is not None:
        try:
            identity = symbolication.read_elf(elf_data)
            symbolication.check_matches(identity, app_image_spans(parsed))
        except symbolication.ElfError as exc:
            raise InvalidRequest(str(exc)) from None
    with service.database.transaction() as session:
        registered = registered_keys(session, caller.account_id, signer_ids(parsed))
        accepted = accept_bundle(parsed, service.platform.app_key, registered)
        row = apps.create_app(session, caller.account_id, accepted, unique_name or None)
        if identity is not None and elf_data is not None:
            crashes.put_elf(session, identity.sha256, identity.build_id, elf_data)
            crashes.attach_elf(session, row, identity.sha256)
        return resources.app(base_url(request), caller.account_sid, row)


@router.get("/v1/Apps/{Sid}", operation_id="FetchApp", tags=[TAG], response_model=schemas.App)
def fetch_app(request: Request, service: ServiceDep, caller: CurrentCaller, sid: AppPath) -> dict:
    """Fetch a specific App."""
    with service.database.transaction() as session:
        row = apps.find_app(session, caller.account_id, sid)
        return resources.app(base_url(request), caller.account_sid, row)


@router.delete("/v1/Apps/{Sid}", operation_id="DeleteApp", tags=[TAG], status_code=204)
def delete_app(service: ServiceDep, caller: CurrentCaller, sid: AppPath) -> Response:
    """Delete a specific App (refused while a device targets it); layers no other app uses go too."""
    with service.database.transaction() as session:
        apps.delete_app(session, apps.find_app(session, caller.account_id, sid))
    return Response(status_code=204)


@router.get("/v1/Apps/{AppSid}/Manifest", operation_id="FetchAppManifest", tags=[MANIFEST_TAG],
            response_model=schemas.AppManifest)
def fetch_app_manifest(
    request: Request, service: ServiceDep, caller: CurrentCaller,
    app_sid: Annotated[params.AppReference, Path(alias="AppSid", description="The app SID or unique name.")],
) -> dict:
    """Retrieve the Manifest for an App."""
    with service.database.transaction() as session:
        return resources.app_manifest(base_url(request), apps.find_app(session, caller.account_id, app_sid))


@router.get("/v1/Apps/{Sid}/Bundle", operation_id="FetchAppBundle", tags=[TAG],
            response_class=Response, responses={200: {"content": {"application/zip": {}}}})
def fetch_app_bundle(service: ServiceDep, caller: CurrentCaller, sid: AppPath) -> Response:
    """Download the app as the service holds it: the co-signed manifest and its layers, as a bundle."""
    with service.database.transaction() as session:
        row = apps.find_app(session, caller.account_id, sid)
        data, name = apps.app_bundle(session, row).to_bytes(), row.sid
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}.zip"'})
