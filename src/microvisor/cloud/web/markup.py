"""HTML built safely (every value escaped unless it is Markup made here), the layout and its parts."""

from __future__ import annotations

import datetime
import html
from collections.abc import Iterable

from ..clock import utc_now

TITLE = "Microvisor console"
NAV = (("/", "Devices"), ("/crashes", "Crashes"), ("/deployments", "Deployments"), ("/overview", "Overview"))


class Markup(str):
    """Text that is HTML already (made by these functions); anything else is escaped when it is placed,
    also when it is added to Markup."""

    def __add__(self, other: object) -> Markup:
        return Markup(str.__add__(self, esc(other)))

    def __radd__(self, other: object) -> Markup:
        return Markup(str.__add__(esc(other), self))


def esc(value: object) -> Markup:
    """A value as HTML text: Markup stays as it is, None is empty, anything else is escaped."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[object]) -> Markup:
    return Markup("".join(esc(part) for part in parts))


def _attributes(attributes: dict[str, object]) -> str:
    """name_ → name (class_, for_), data_x → data-x; False or None leaves it out, True writes it bare."""
    written = []
    for name, value in attributes.items():
        if value is None or value is False:
            continue
        name = name.rstrip("_").replace("_", "-")
        written.append(f" {name}" if value is True else f' {name}="{esc(value)}"')
    return "".join(written)


VOID = {"input", "meta", "link", "br", "hr", "img"}


def tag(element: str, /, *children: object, **attributes: object) -> Markup:
    """<element attributes>children</element>, children escaped unless Markup (lists and tuples are
    flattened)."""
    if element in VOID:
        return Markup(f"<{element}{_attributes(attributes)}>")
    return Markup(f"<{element}{_attributes(attributes)}>{join(_flatten(children))}</{element}>")


def _flatten(children: Iterable[object]) -> Iterable[object]:
    for child in children:
        if isinstance(child, list | tuple):
            yield from _flatten(child)
        else:
            yield child


def when(moment: datetime.datetime | None, empty: str = "never") -> Markup:
    """A moment in UTC, to the second, in a <time> element (with how long ago as its title)."""
    if moment is None:
        return esc(empty)
    moment = moment.astimezone(datetime.UTC)
    return tag("time", moment.strftime("%Y-%m-%d %H:%M:%S"), datetime=moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
               title=ago(moment))


def ago(moment: datetime.datetime, now: datetime.datetime | None = None) -> str:
    seconds = max(0, int(((now or utc_now()) - moment).total_seconds()))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return f"{seconds} s ago"


def table(headings: Iterable[str], rows: Iterable[Iterable[object]], empty: str,
          **attributes: object) -> Markup:
    """A table with a heading row; `empty` is said instead when there are no rows."""
    body = [tag("tr", [tag("td", cell) for cell in row]) for row in rows]
    if not body:
        return tag("p", empty, class_="empty")
    return tag("table", tag("thead", tag("tr", [tag("th", heading, scope="col") for heading in headings])),
               tag("tbody", body), **attributes)


def facts(pairs: Iterable[tuple[str, object]]) -> Markup:
    """A definition list of name and value."""
    return tag("dl", [(tag("dt", name), tag("dd", value)) for name, value in pairs], class_="facts")


def link(href: str, text: object, **attributes: object) -> Markup:
    return tag("a", text, href=href, **attributes)


def hidden(name: str, value: str) -> Markup:
    return tag("input", type="hidden", name=name, value=value)


def post_button(action: str, label: str, csrf: str, fields: dict[str, str] | None = None,
                confirm: str | None = None, class_: str = "button") -> Markup:
    """A one-button form that POSTs to action with the session's form token (and data-confirm's question)."""
    inputs = [hidden("csrf", csrf)] + [hidden(name, value) for name, value in (fields or {}).items()]
    return tag("form", inputs, tag("button", label, type="submit", class_=class_), method="post",
               action=action, class_="inline", data_confirm=confirm)


def document(title: str, body: Markup, *, page: str, account_sid: str | None = None, csrf: str | None = None,
             data: dict[str, str] | None = None) -> Markup:
    """A whole page: head (the console's stylesheet and script, nothing inline), the navigation bar when
    signed in, then body. `page` and `data` become the <body>'s data- attributes the script reads."""
    head = tag("head", tag("meta", charset="utf-8"),
               tag("meta", name="viewport", content="width=device-width, initial-scale=1"),
               tag("meta", name="referrer", content="same-origin"),
               tag("title", f"{title} · {TITLE}"),
               tag("link", rel="stylesheet", href="/console/static/console.css"),
               tag("link", rel="icon", href="/console/static/favicon.svg", type="image/svg+xml"),
               tag("script", src="/console/static/console.js", defer=True))
    attributes = {f"data_{name}": value for name, value in (data or {}).items()}
    top = navigation(page, account_sid, csrf) if account_sid and csrf else tag(
        "header", tag("span", TITLE, class_="brand"), class_="bar")
    main = tag("main", tag("h1", title), body)
    whole = tag("html", head, tag("body", top, main, data_page=page, **attributes), lang="en")
    return Markup("<!DOCTYPE html>\n") + whole


def navigation(page: str, account_sid: str, csrf: str) -> Markup:
    items = [tag("li", link(href, label, aria_current="page" if href == _section(page) else None))
             for href, label in NAV]
    sign_out = tag("form", hidden("csrf", csrf), tag("button", "Sign out", type="submit"), method="post",
                   action="/signout", class_="inline signout")
    return tag("header", tag("span", TITLE, class_="brand"), tag("nav", tag("ul", items), aria_label="Main"),
               tag("span", account_sid, class_="account", title="Signed in as this account"), sign_out,
               class_="bar")


SECTIONS = {"devices": "/", "device": "/", "crashes": "/crashes", "crash-group": "/crashes",
            "deployments": "/deployments", "deployment": "/deployments", "overview": "/overview"}


def _section(page: str) -> str:
    return SECTIONS.get(page, "")


def short_hash(manifest_hash: str | None) -> str:
    return "none" if not manifest_hash else f"sha256:{manifest_hash[:12]}…"
