"""The v1 paging envelope: PageSize, Page and PageToken in; items and a `meta` block out.

Pages are cut by row id (keyset paging), so a page does not shift when rows are added while a
client walks a list: PageToken `PA<id>` is the page after row id, `PB<id>` the page before it.
Page is the client's own counter, echoed in the URLs; without a token it selects by offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from .params import MAX_ROW_ID, text, whole_number

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_PAGE = MAX_ROW_ID // MAX_PAGE_SIZE  # so that the offset, Page × PageSize, fits a row id
_AFTER, _BEFORE = "PA", "PB"
PageSize = whole_number(1, MAX_PAGE_SIZE)
PageIndex = whole_number(0, MAX_PAGE)
# A token names a row id; the empty token is no token.
PageToken = text("(P[AB][0-9]{1,19})?", "must be a page token this service gave out: PA or PB and a row id",
                 lambda token: not token or int(token[2:]) <= MAX_ROW_ID)


@dataclass(frozen=True)
class PageRequest:
    page_size: int = DEFAULT_PAGE_SIZE
    page: int = 0
    token: str | None = None


def page_request(
    page_size: Annotated[PageSize, Query(alias="PageSize",
                                         description="How many resources to return in each list page.")]
    = DEFAULT_PAGE_SIZE,
    page: Annotated[PageIndex, Query(alias="Page", description="The page index (client state).")] = 0,
    token: Annotated[PageToken | None, Query(alias="PageToken",
                                             description="The page token from a meta URL.")] = None,
) -> PageRequest:
    """FastAPI dependency: the paging parameters of a list request."""
    return PageRequest(page_size, page, token or None)


PageParams = Annotated[PageRequest, Depends(page_request)]


@dataclass
class Page:
    rows: list[Any]  # each with an integer `id`
    has_next: bool
    has_previous: bool

    @property
    def first_id(self) -> int | None:
        return self.rows[0].id if self.rows else None

    @property
    def last_id(self) -> int | None:
        return self.rows[-1].id if self.rows else None


def fetch(session: Session, statement: Select, row_id: InstrumentedAttribute, request: PageRequest) -> Page:
    """One page of the rows statement selects, in row-id order."""
    size = request.page_size
    if request.token is None:
        rows = list(session.scalars(statement.order_by(row_id).offset(request.page * size).limit(size + 1)))
        return Page(rows[:size], len(rows) > size, request.page > 0)
    direction, boundary = request.token[:2], int(request.token[2:])
    if direction == _AFTER:
        rows = list(session.scalars(statement.where(row_id > boundary).order_by(row_id).limit(size + 1)))
        return Page(rows[:size], len(rows) > size, True)
    rows = list(session.scalars(statement.where(row_id < boundary).order_by(row_id.desc()).limit(size + 1)))
    return Page(list(reversed(rows[:size])), True, len(rows) > size)


def envelope(http: Request, key: str, items: list[dict], page: Page, request: PageRequest,
             filters: dict[str, str] | None = None) -> dict:
    """{key: items, meta: {...}} with absolute URLs on this service; `filters` (the list's own query
    parameters, as given) stay in every URL."""
    base = str(http.base_url).rstrip("/") + http.url.path

    def url(page_number: int, token: str | None = None) -> str:
        query: dict[str, Any] = {**(filters or {}), "PageSize": request.page_size, "Page": page_number}
        if token:
            query["PageToken"] = token
        return f"{base}?{urlencode(query)}"

    previous = None
    if page.has_previous:
        previous = url(max(request.page - 1, 0), f"{_BEFORE}{page.first_id}" if page.rows else None)
    following = None
    if page.has_next and page.rows:
        following = url(min(request.page + 1, MAX_PAGE), f"{_AFTER}{page.last_id}")
    return {
        key: items,
        "meta": {
            "page": request.page,
            "page_size": request.page_size,
            "first_page_url": url(0),
            "previous_page_url": previous,
            "url": url(request.page, request.token),
            "next_page_url": following,
            "key": key,
        },
    }
