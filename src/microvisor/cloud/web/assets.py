"""The console's own script, stylesheet and icon, served from the package (nothing comes from elsewhere)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import Request
from fastapi.responses import Response

from .guard import console_router, not_found

router = console_router()
TYPES = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8",
         "favicon.svg": "image/svg+xml"}


@cache
def _content(name: str) -> bytes:
    return files(__package__).joinpath("static", name).read_bytes()


@router.get("/console/static/{name}")
def asset(request: Request, name: str) -> Response:
    if name not in TYPES:
        return not_found(request)
    return Response(_content(name), media_type=TYPES[name], headers={"Cache-Control": "no-cache"})
