"""The web console at / of the service (devices, crashes, deployments, overview); `router` is its routes."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from . import assets, crashes, deployments, devices, overview, signin
from .guard import console_router, not_found

router = console_router()
for _module in (signin, devices, crashes, deployments, overview, assets):
    router.include_router(_module.router)


@router.get("/devices/{rest:path}")
@router.get("/crashes/{rest:path}")
@router.get("/deployments/{rest:path}")
@router.get("/console/{rest:path}")
def missing(request: Request, rest: str) -> Response:
    """Any other path under the console's own: its 404 page (not the API's JSON)."""
    return not_found(request)


__all__ = ["router"]
