"""What every route needs: the service, the base URL resources are addressed by, the error responses."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..schemas import Error
from ..service import Service


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def base_url(request: Request) -> str:
    """scheme://host[:port] as the client addressed this service (URLs in resources are absolute)."""
    return str(request.base_url).rstrip("/")


# Every 4xx has the v1 error body; "4XX" also keeps FastAPI from documenting a 422 the service never sends.
ERRORS = {status: {"model": Error, "description": text} for status, text in
          ((400, "Invalid request"), (401, "Not authenticated"), (404, "Not found"), (409, "Conflict"),
           ("4XX", "Refused for another reason, such as a body over the size limit (413)"))}
