"""The FastAPI application of the service: its routes, the JSON error envelope, the generated OpenAPI."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from . import errors
from .body_limit import BodyLimit
from .routes import (
    apps,
    configs,
    crashes,
    deployments,
    device_activity,
    device_console,
    device_debug,
    devices,
    factory,
    secrets,
    signing_keys,
)
from .service import Service
from .web import router as web_console

DESCRIPTION = (
    "The Microvisor v1 REST API (Devices, Apps, Configs, Secrets; HTTP Basic with the account SID and "
    "auth token; the v1 paging envelope), plus this service's own resources in the same style: device "
    "registration, app upload and download, the account's bundle-signing keys, device logs (also live, "
    "as server-sent events), events, crash reports (symbolicated with the app's ELF) and their groups, "
    "deployments (an app rolled out in stages that halt themselves on crashes), "
    "remote-debugging messages and devices' consoles (relayed as opaque "
    "bytes both ways), and the factory: SFI cards and their licences, single-use challenges, chips "
    "certified from attestations, stations' results and the certifications refused."
)


def _version() -> str:
    try:
        return version("microvisor")
    except PackageNotFoundError:
        return "0"


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="Microvisor", version=_version(), description=DESCRIPTION)
    app.state.service = service
    app.add_middleware(BodyLimit, limit=service.settings.max_body_bytes)
    errors.install(app)
    for module in (configs, secrets, apps, signing_keys, devices, device_activity, device_debug,
                   device_console, factory, crashes, deployments):
        app.include_router(module.router)
    app.include_router(web_console)  # the web console at /: pages, its script's endpoints, its static files
    return app
