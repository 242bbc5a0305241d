"""The installer station's web page: the operator's image, card and DUTs, each DUT's ten steps live."""

from __future__ import annotations

import asyncio
import base64
import collections
import dataclasses
import hashlib
import html
import ipaddress
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import (HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response,
                               StreamingResponse)
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..common import spi_image
from ..common.api_client import ApiClient
from .image import ImageError, inspect_image
from .station import STEPS, Card, Dut, LockedCard, Station, StationError, card_status

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8480
LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")
UPLOAD_PATH = "/image"
FETCH_HEADER = "x-station-fetch"  # the page's script starts a run without leaving the page
MAX_UPLOAD = spi_image.MAX_IMAGE_SIZE + 4096  # the image and the form around it
MAX_FORM = 16 * 1024  # any other POST
MAX_DUTS = 64
MAX_NAME = 64
MAX_MESSAGE = 2000  # characters of one event's message kept (a DUT's words are bounded here)
MAX_LOG = 2000  # log lines kept per DUT, the oldest dropped first
MAX_EVENTS = 10_000  # events kept for pages catching up; older ones make the page reload
KEEP_ALIVE_S = 15.0
STEP_STATES = ("pending", "running", "passed", "failed", "skipped")
EVENT_STATES = ("running", "passed", "failed", "skipped", "log", "progress", "done")
_HOSTNAME = re.compile(r"(?=.{1,253}\.?$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")
_DIGITS = re.compile(r"[0-9]{1,5}")


class FormError(ValueError):
    """A request the page refuses: its HTTP status and the sentence the operator reads."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _BodyTooLarge(Exception):
    pass


# --- the station's state, shared by the page's requests and the DUTs' run threads -----------------
@dataclass
class DutView:
    """One DUT as the page shows it: its steps' states, its log, its last result."""

    id: int
    dut: Dut
    state: str = "idle"  # idle, running, passed, failed
    steps: dict[int, str] = field(default_factory=lambda: dict.fromkeys(STEPS, "pending"))
    notes: dict[int, str] = field(default_factory=dict)  # step -> its last message
    log: collections.deque = field(default_factory=lambda: collections.deque(maxlen=MAX_LOG))
    detail: str = ""  # what it does now, or why it ended
    result: dict[str, Any] | None = None
    image: str | None = None  # the TOC hash of the image of its last run
    runs: int = 0


class StationPage:
    """What the page shows and does: the image's Station, the card, the DUTs and their runs."""

    def __init__(self, card: Card, api: ApiClient, name: str, image: bytes | None, duts: Iterable[Dut],
                 step_timeout_s: float | None = None):
        self.card = card if isinstance(card, LockedCard) else LockedCard(card)
        self.api = api
        self.name = name
        self.step_timeout_s = step_timeout_s
        self.station: Station | None = None
        self.image_info: dict[str, Any] | None = None
        self.card_info: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._api_lock = threading.Lock()
        self._views: dict[int, DutView] = {}
        self._by_name: dict[str, DutView] = {}
        self._next_id = 1
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_EVENTS)
        self._seq = 0
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.closing = False
        if image is not None:
            self.set_image(image)
        for dut in duts:
            self.add_dut(dut)

    # -- the image
    def set_image(self, image: bytes) -> None:
        """A new Station for this image (StationError: refused); not while a DUT runs."""
        kwargs = {} if self.step_timeout_s is None else {"step_timeout_s": self.step_timeout_s}
        station = Station(image, self.card, self.api, self.name, listener=self.on_event, **kwargs)
        info = {**station.toc.describe(), "sha256": station.image_sha256, "bytes": len(station.image)}
        try:
            _, reports = inspect_image(station.image, None)
            details = {report.name: report for report in reports}
        except ImageError:
            details = {}
        for part in info["parts"]:
            report = details.get(part["name"])
            part["verified"] = bool(report and report.verified)
            part["detail"] = report.detail if report else "not checked"
        with self._lock:
            if any(view.state == "running" for view in self._views.values()):
                raise FormError(409, "a DUT is running: change the image once every run has ended")
            self.station, self.image_info = station, info
            self._publish({"kind": "reload"})

    # -- the card
    def refresh_card(self) -> dict[str, Any]:
        """The card's SID and what the service says of it; never raises (the page shows the error)."""
        station = self.station
        try:
            if station is not None:
                status = station.card_status()
            else:
                with self._api_lock:
                    status = card_status(self.card, self.api)
        except Exception as exc:  # a token gone, a service down: shown, never a failed page
            status = {"card": None, "error": f"the card cannot be read: {exc}"}
        self.card_info = status
        return status

    # -- the DUTs
    def add_dut(self, dut: Dut) -> DutView:
        """Add a DUT to the page (an empty name becomes dut-N); FormError when it cannot be."""
        with self._lock:
            if dut.name in self._by_name:
                raise FormError(409, f"a DUT named {dut.name!r} is on the page already")
            if len(self._views) >= MAX_DUTS:
                raise FormError(409, f"the page holds at most {MAX_DUTS} DUTs")
            view = DutView(self._next_id, dut)
            self._next_id += 1
            if not dut.name:
                dut.name = f"dut-{view.id}"
                if dut.name in self._by_name:
                    raise FormError(409, f"a DUT named {dut.name!r} is on the page already")
            self._views[view.id] = view
            self._by_name[dut.name] = view
            self._publish({"kind": "reload"})
            return view

    def start(self, dut_id: int) -> DutView:
        """Start a run of this DUT on its own thread (it must not be running)."""
        with self._lock:
            view = self._views.get(dut_id)
            if view is None:
                raise FormError(404, "no such DUT")
            station = self.station
            if station is None:
                raise FormError(409, "upload an SPI image before starting a DUT")
            if view.state == "running":
                raise FormError(409, f"DUT {view.dut.name!r} is running already")
            view.state, view.runs, view.result = "running", view.runs + 1, None
            view.image = station.toc.toc_hash
            view.steps = dict.fromkeys(STEPS, "pending")
            view.notes, view.detail = {}, "starting"
            line = f"--- run {view.runs} with image {station.toc.toc_hash[:12]} ---"
            view.log.append(line)
            self._publish({"kind": "start", "id": view.id, "run": view.runs, "line": line,
                           "state": view.state, "detail": view.detail})
        threading.Thread(target=self._run, args=(station, view), name=f"station-dut-{view.id}",
                         daemon=True).start()
        return view

    def _run(self, station: Station, view: DutView) -> None:
        try:
            station.run(view.dut)
        except Exception as exc:  # the station's own failure: the row must not stay "running"
            self.on_event({"dut": view.dut.name, "step": 1, "status": "done", "time": 0.0,
                           "message": f"the station failed: {type(exc).__name__}: {exc}",
                           "result": {"passed": False, "step": 1, "reason": f"the station failed: {exc}"}})
        self.refresh_card()
        with self._lock:
            self._publish({"kind": "card", "card": _card_fields(self.card_info)})

    # -- events: from the station's run threads to the pages' streams
    def on_event(self, event: dict[str, Any]) -> None:
        """The station's listener: the DUT's row follows; every message goes to its log."""
        with self._lock:
            view = self._by_name.get(str(event.get("dut")))
            if view is None:
                return
            status = event.get("status") if event.get("status") in EVENT_STATES else "log"
            step = event.get("step")
            step = step if isinstance(step, int) and step in STEPS else None
            message = _text(event.get("message"))
            seconds = event.get("time")
            seconds = float(seconds) if isinstance(seconds, int | float) and seconds == seconds else 0.0
            if step is not None and status in STEP_STATES:
                view.steps[step] = status
            if step is not None and status != "log":
                view.notes[step] = message
            line = f"{seconds:8.3f} s  step {step or '-'}  {status}: {message}"
            view.log.append(line)
            if status == "done":
                result = event.get("result") if isinstance(event.get("result"), dict) else {}
                view.result = {key: _text(result.get(key)) for key in ("chip_uid", "device_sid", "seconds")}
                view.state = "passed" if result.get("passed") is True else "failed"
                view.detail = _text(result.get("reason") or message)
                for number, state in view.steps.items():
                    if state == "running":  # a step that never said how it ended
                        view.steps[number] = "passed" if view.state == "passed" else "failed"
            elif status not in ("log",):
                view.detail = message
            self._publish({"kind": "step", "id": view.id, "step": step, "status": status, "message": message,
                           "line": line, "state": view.state, "detail": view.detail,
                           "steps": dict(view.steps) if status == "done" else None, "result": view.result})

    def _publish(self, event: dict[str, Any]) -> None:
        """Under the lock: number the event, keep it, wake every stream."""
        self._seq += 1
        self._events.append({"seq": self._seq, **event})
        for loop, wake in list(self._subscribers):
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # its loop is closed: the stream is gone
                self._subscribers.discard((loop, wake))

    def snapshot(self) -> tuple[int, list[DutView]]:
        """The last event's number and copies of the DUTs as they were after it (the run threads go on)."""
        with self._lock:
            return self._seq, [dataclasses.replace(view, steps=dict(view.steps), notes=dict(view.notes),
                                                   log=collections.deque(view.log))
                               for view in self._views.values()]

    def since(self, after: int) -> tuple[list[dict[str, Any]], bool]:
        """Events after `after`, or (…, True) when the page missed some and must reload."""
        with self._lock:
            if after > self._seq or (self._events and after < self._events[0]["seq"] - 1):
                return [], True
            return [event for event in self._events if event["seq"] > after], False

    def subscribe(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        with self._lock:
            self._subscribers.add((loop, wake))

    def unsubscribe(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        with self._lock:
            self._subscribers.discard((loop, wake))

    def close(self) -> None:
        """End the pages' streams (the server is stopping)."""
        with self._lock:
            self.closing = True
            self._publish({"kind": "closing"})


def _text(value: Any) -> str:
    text = "" if value is None else str(value)
    return text[:MAX_MESSAGE] + ("…" if len(text) > MAX_MESSAGE else "")


def _card_fields(status: dict[str, Any]) -> dict[str, str]:
    """The card's facts the page shows, as text."""
    fields = {"sid": status.get("card") or "none", "account": status.get("account_sid") or "—",
              "left": status.get("licences_left"), "total": status.get("licences"),
              "used": status.get("licences_used"), "state": "revoked" if status.get("revoked") else "valid",
              "error": status.get("error") or ""}
    if status.get("error"):
        fields["state"] = "unusable"
    return {key: "—" if value is None else _text(value) for key, value in fields.items()}


# --- checking what the operator typed --------------------------------------------------------------
def check_port(value: Any, what: str) -> int:
    if not isinstance(value, str) or not _DIGITS.fullmatch(value.strip()) or not 1 <= int(value) <= 65535:
        raise FormError(400, f"the {what} must be a whole number from 1 to 65535")
    return int(value)


def check_host(value: Any) -> str:
    host = value.strip() if isinstance(value, str) else ""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if _HOSTNAME.fullmatch(host) and not host.replace(".", "").isdigit():
        return host.rstrip(".").lower()
    raise FormError(400, "the host must be a host name or an IP address")


def check_name(value: Any) -> str:
    """A DUT's name: printable, at most MAX_NAME characters; empty when none was given."""
    name = value.strip() if isinstance(value, str) else ""
    if len(name) > MAX_NAME or not name.isprintable():
        raise FormError(400, f"the DUT's name must be printable text of at most {MAX_NAME} characters")
    return name


# --- the page ---------------------------------------------------------------------------------------
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d232a;background:#f7f8fa}
h1{font-size:1.4em;margin:0 0 .6em}h2{font-size:1.1em;margin:1.2em 0 .4em}
section{background:#fff;border:1px solid #d9dee4;border-radius:6px;padding:.8em 1em;margin-bottom:1em}
table{border-collapse:collapse}td,th{padding:.25em .5em;text-align:left;vertical-align:top}
dl{display:grid;grid-template-columns:max-content auto;gap:.15em 1em;margin:0}dt{color:#5b6673}dd{margin:0}
code,.mono{font-family:ui-monospace,monospace;font-size:.92em;word-break:break-all}
.alert{background:#fde8e8;border:1px solid #e0a3a3;color:#7d1b1b;padding:.6em 1em;border-radius:6px}
.steps td.step{width:1.8em;text-align:center;border-radius:4px;color:#fff;font-weight:600}
.step.pending{background:#c5ccd4}.step.running{background:#e3a21a}.step.passed{background:#2f9e44}
.step.failed{background:#d6336c}.step.skipped{background:#7f97b2}
.state{font-weight:600}.state.passed{color:#2f9e44}.state.failed{color:#c2255c}.state.running{color:#b7791f}
.detail{max-width:38em}.log ol{margin:.2em 0;padding-left:2.5em;max-height:24em;overflow:auto}
.log li{font-family:ui-monospace,monospace;font-size:.85em;white-space:pre-wrap;word-break:break-all}
form.inline{display:inline}label{margin-right:.6em}input[type=text]{width:9em}
button{cursor:pointer}ol.legend{columns:2;margin:.3em 0}
"""

SCRIPT = """
"use strict";
(() => {
  const states = ["pending", "running", "passed", "failed", "skipped"];
  const after = document.body.dataset.seq;
  const source = new EventSource("/events?after=" + encodeURIComponent(after));
  const reload = () => { source.close(); location.reload(); };
  const paint = (cell, state) => {
    if (cell.className !== "step " + state) cell.className = "step " + state;
  };
  source.addEventListener("reload", reload);
  const showError = (text) => {
    let element = document.getElementById("error");
    if (!element) {
      element = document.createElement("p");
      element.id = "error";
      element.className = "alert";
      element.setAttribute("role", "alert");
      document.querySelector("h1").after(element);
    }
    element.textContent = text;
  };
  for (const form of document.querySelectorAll("form.start")) {
    form.addEventListener("submit", async (submit) => {
      submit.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        const response = await fetch(form.action, {method: "POST", headers: {"X-Station-Fetch": "1"},
                                                    body: new URLSearchParams(new FormData(form))});
        if (!response.ok) {
          const answer = await response.json().catch(() => ({}));
          showError(answer.error || "the station refused (HTTP " + response.status + ")");
          button.disabled = false;
        }
      } catch (error) {
        showError("the station does not answer");
        button.disabled = false;
      }
    });
  }
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.kind === "card") {
      for (const [key, value] of Object.entries(event.card)) {
        const element = document.getElementById("card-" + key);
        if (element) element.textContent = value;
      }
      return;
    }
    const row = document.getElementById("dut-" + event.id);
    if (!row) return;
    if (event.kind === "start") {
      for (const cell of row.querySelectorAll("td.step")) {
        paint(cell, "pending");
        cell.title = "";
      }
    }
    const stepCell = (step) => row.querySelector("td.step[data-step='" + step + "']");
    const cell = Number.isInteger(event.step) ? stepCell(event.step) : null;
    if (cell && states.includes(event.status)) paint(cell, event.status);
    if (cell && event.status !== "log") cell.title = event.message;
    if (event.steps) {
      for (const [step, state] of Object.entries(event.steps)) {
        const other = stepCell(step);
        if (other && states.includes(state)) paint(other, state);
      }
    }
    const state = row.querySelector(".state");
    state.textContent = event.state;
    state.className = "state " + event.state;
    row.dataset.state = event.state;
    row.querySelector(".detail").textContent = event.detail;
    const button = row.querySelector("button.start");
    button.disabled = event.state === "running";
    if (event.state !== "running" && event.state !== "idle") button.textContent = "Start again";
    if (event.result) {
      for (const key of ["chip_uid", "device_sid"]) {
        const element = row.querySelector("." + key);
        if (element) element.textContent = event.result[key] || "";
      }
    }
    const log = document.getElementById("log-" + event.id);
    const line = document.createElement("li");
    line.textContent = event.line;
    const list = log.querySelector("ol");
    list.append(line);
    list.scrollTop = list.scrollHeight;
    log.querySelector(".count").textContent = log.querySelectorAll("li").length;
  };
})();
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CSP = ("default-src 'none'; script-src " + _csp_hash(SCRIPT) + "; style-src " + _csp_hash(STYLE)
       + "; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"), (b"x-frame-options", b"DENY"),
                    (b"cache-control", b"no-store")]


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def render_page(page: StationPage, token: str, error: str | None = None) -> str:
    """The whole page, every value escaped; `data-seq` tells the script where its event stream starts."""
    card = _card_fields(page.refresh_card())
    seq, views = page.snapshot()
    out = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
           f'<title>Station {_e(page.name)}</title>'
           '<meta name="viewport" content="width=device-width,initial-scale=1">'
           f'<style>{STYLE}</style></head>'
           f'<body data-seq="{seq}"><h1>Installer station <span class="mono">{_e(page.name)}</span></h1>']
    if error:
        out.append(f'<p class="alert" role="alert" id="error">{_e(error)}</p>')
    out.append(f'<section id="card"><h2>SFI card</h2><dl><dt>Card</dt><dd class="mono" id="card-sid">'
               f'{_e(card["sid"])}</dd><dt>Account</dt><dd class="mono" id="card-account">'
               f'{_e(card["account"])}</dd><dt>Licences left</dt><dd><strong id="card-left">'
               f'{_e(card["left"])}</strong> of '
               f'<span id="card-total">{_e(card["total"])}</span> (<span id="card-used">{_e(card["used"])}'
               f'</span> used)</dd><dt>State</dt><dd id="card-state">{_e(card["state"])}</dd>'
               f'<dt>Service</dt><dd class="mono">{_e(page.api.url)}</dd></dl>'
               f'<p id="card-error">{_e(card["error"])}</p></section>')
    out.append(_image_section(page, token))
    out.append(_duts_section(views, token, page.station is not None))
    out.append(f"<script>{SCRIPT}</script></body></html>")
    return "".join(out)


def _token_field(token: str) -> str:
    return f'<input type="hidden" name="token" value="{_e(token)}">'


def _image_section(page: StationPage, token: str) -> str:
    info = page.image_info
    out = ['<section id="image"><h2>SPI image</h2>']
    if info is None:
        out.append('<p id="no-image">No image yet: upload the one the DUTs get.</p>')
    else:
        out.append(f'<dl><dt>TOC hash</dt><dd class="mono" id="toc-hash">{_e(info["toc_hash"])}</dd>'
                   f'<dt>Size</dt><dd>{_e(info["bytes"])} bytes</dd>'
                   f'<dt>SHA-256</dt><dd class="mono">{_e(info["sha256"])}</dd>'
                   f'<dt>Root key hash</dt><dd class="mono">{_e(info["root_key_hash"])}</dd>'
                   f'<dt>Signed by</dt><dd class="mono">{_e(info["signer_id"])}</dd></dl>'
                   '<table id="parts"><thead><tr><th>Part</th><th>Offset</th><th>Size</th><th>SHA-256</th>'
                   '<th>Checked</th><th>Detail</th></tr></thead><tbody>')
        for part in info["parts"]:
            out.append(f'<tr><td>{_e(part["name"])}</td><td class="mono">{int(part["offset"]):#x}</td>'
                       f'<td>{_e(part["size"])}</td><td class="mono">{_e(part["sha256"][:16])}…</td>'
                       f'<td>{"yes" if part["verified"] else "NO"}</td><td>{_e(part["detail"])}</td></tr>')
        out.append("</tbody></table>")
    out.append(f'<form method="post" action="{UPLOAD_PATH}" enctype="multipart/form-data" id="upload">'
               f'{_token_field(token)}<label>Image file <input type="file" name="image" required></label>'
               f'<button type="submit">Upload</button></form></section>')
    return "".join(out)


def _duts_section(views: list[DutView], token: str, has_image: bool) -> str:
    head = "".join(f'<th title="{_e(title)}">{number}</th>' for number, title in STEPS.items())
    out = ['<section id="duts"><h2>DUTs</h2><table class="steps"><thead><tr><th>DUT</th><th>Address</th>',
           head, "<th>State</th><th>Now / result</th><th>Chip</th><th>Device</th><th></th></tr></thead>",
           "<tbody>"]
    for view in views:
        dut = view.dut
        cells = "".join(f'<td class="step {_e(view.steps[n])}" data-step="{n}" '
                        f'title="{_e(view.notes.get(n, ""))}">{n}</td>' for n in STEPS)
        result = view.result or {}
        label = "Start" if view.state == "idle" else "Start again"
        disabled = " disabled" if view.state == "running" or not has_image else ""
        out.append(f'<tr id="dut-{view.id}" data-name="{_e(dut.name)}" data-state="{_e(view.state)}">'
                   f'<td>{_e(dut.name)}</td><td class="mono">{_e(dut.host)} debug {dut.debug_port} '
                   f'uart {dut.uart_port}</td>{cells}<td class="state {_e(view.state)}" '
                   f'title="image {_e(view.image or "none yet")}">{_e(view.state)}</td>'
                   f'<td class="detail">{_e(view.detail)}</td><td class="mono chip_uid">'
                   f'{_e(result.get("chip_uid", ""))}</td><td class="mono device_sid">'
                   f'{_e(result.get("device_sid", ""))}</td><td><form class="inline start" method="post" '
                   f'action="/duts/{view.id}/start">{_token_field(token)}<button class="start" type="submit"'
                   f"{disabled}>{label}</button></form></td></tr>")
        lines = "".join(f"<li>{_e(line)}</li>" for line in view.log)
        out.append(f'<tr class="logrow"><td colspan="{len(STEPS) + 7}">'
                   f'<details class="log" id="log-{view.id}"><summary>Log of {_e(dut.name)} '
                   f'(<span class="count">{len(view.log)}</span> lines)'
                   f"</summary><ol>{lines}</ol></details></td></tr>")
    if not views:
        out.append(f'<tr><td colspan="{len(STEPS) + 7}">No DUT yet.</td></tr>')
    legend = "".join(f"<li>{_e(title)}</li>" for title in STEPS.values())
    out.append(f'</tbody></table><ol class="legend">{legend}</ol>'
               f'<h2>Add a DUT</h2><form method="post" action="/duts" id="add-dut">{_token_field(token)}'
               '<label>Name <input type="text" name="name" maxlength="64"></label>'
               '<label>Host <input type="text" name="host" value="127.0.0.1" required></label>'
               '<label>Debug port <input type="text" name="debug_port" inputmode="numeric" required></label>'
               '<label>UART port <input type="text" name="uart_port" inputmode="numeric" required></label>'
               '<button type="submit">Add</button></form></section>')
    return "".join(out)


# --- the application ------------------------------------------------------------------------------
class _Guard:
    """ASGI middleware: only this station's own host names, bounded bodies, the security headers."""

    def __init__(self, app: Any, allowed_hosts: frozenset[str] | None):
        self.app = app
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        if self.allowed_hosts is not None and _hostname(headers.get("host", "")) not in self.allowed_hosts:
            await PlainTextResponse("this station's page answers only to its own host names", 421)(
                scope, receive, secured)
            return
        limit = MAX_UPLOAD if scope["path"] == UPLOAD_PATH else MAX_FORM
        declared = headers.get("content-length", "")
        if declared and (not declared.isdigit() or int(declared) > limit):
            await PlainTextResponse(f"the request is larger than the {limit} bytes allowed", 413)(
                scope, receive, secured)
            return
        received = 0

        async def bounded() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        await self.app(scope, bounded, secured)


def _hostname(host: str) -> str:
    """The name part of a Host header, lower case, without port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def station_app(card: Card, api: ApiClient, name: str, image: bytes | None, duts: Iterable[Dut] = (), *,
                allowed_hosts: Iterable[str] | None = LOCAL_NAMES, step_timeout_s: float | None = None,
                token: str | None = None) -> FastAPI:
    """The page's application. A bad `image` raises StationError; `allowed_hosts` are the names the
    browser may use for the page (None: any, for a page bound to every address)."""
    page = StationPage(card, api, name, image, duts, step_timeout_s)
    token = token or secrets.token_urlsafe(32)
    app = FastAPI(title="Microvisor installer station", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.page, app.state.token = page, token
    hosts = None if allowed_hosts is None else frozenset(_hostname(h) or h.lower() for h in allowed_hosts)
    app.add_middleware(_Guard, allowed_hosts=hosts)

    async def show(error: str | None = None, status: int = 200) -> HTMLResponse:
        text = await run_in_threadpool(render_page, page, token, error)
        return HTMLResponse(text, status)

    async def form(request: Request, **limits: int) -> dict[str, Any]:
        """The POST's fields once its origin and token are checked (FormError otherwise)."""
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
            raise FormError(403, "the request comes from another site's page")
        try:
            data = await request.form(**limits)
        except _BodyTooLarge:
            raise FormError(413, "the request is larger than the page accepts") from None
        except (StarletteHTTPException, ValueError, UnicodeDecodeError):
            raise FormError(400, "the form cannot be read") from None
        sent = data.get("token")
        if not isinstance(sent, str) or not secrets.compare_digest(sent.encode(), token.encode()):
            raise FormError(403, "the form is not from this station's page (missing or wrong token): "
                                 "reload the page")
        return dict(data)

    @app.exception_handler(FormError)
    async def refused(request: Request, exc: FormError) -> Response:
        if request.headers.get(FETCH_HEADER) == "1":  # the page's script: it shows the sentence itself
            return JSONResponse({"error": str(exc)}, exc.status)
        return await show(str(exc), exc.status)

    @app.exception_handler(_BodyTooLarge)
    async def too_large(request: Request, exc: _BodyTooLarge) -> Response:
        return PlainTextResponse("the request is larger than allowed", 413)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return PlainTextResponse(str(exc.detail), exc.status_code)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return await show()

    @app.post(UPLOAD_PATH)
    async def upload(request: Request) -> Response:
        data = await form(request, max_files=1, max_fields=4, max_part_size=4096)
        upload = data.get("image")
        if not isinstance(upload, UploadFile):
            raise FormError(400, "choose the SPI image file to upload")
        image = await upload.read(spi_image.MAX_IMAGE_SIZE + 1)
        await upload.close()
        if not image:
            raise FormError(400, "the file chosen is empty")
        if len(image) > spi_image.MAX_IMAGE_SIZE:
            raise FormError(413, f"an SPI image is at most {spi_image.MAX_IMAGE_SIZE} bytes")
        try:
            await run_in_threadpool(page.set_image, image)
        except StationError as exc:
            raise FormError(400, str(exc)) from None
        return RedirectResponse("/", 303)

    @app.post("/duts")
    async def add(request: Request) -> Response:
        data = await form(request, max_files=0, max_fields=8, max_part_size=MAX_FORM)
        debug_port = check_port(data.get("debug_port"), "debug port")
        uart_port = check_port(data.get("uart_port"), "UART port")
        host = check_host(data.get("host"))
        name = check_name(data.get("name"))
        page.add_dut(Dut(name, host, debug_port, uart_port))
        return RedirectResponse("/", 303)

    @app.post("/duts/{dut_id}/start")
    async def start(request: Request, dut_id: str) -> Response:
        await form(request, max_files=0, max_fields=4, max_part_size=MAX_FORM)
        if not _DIGITS.fullmatch(dut_id):
            raise FormError(404, "no such DUT")
        page.start(int(dut_id))
        if request.headers.get(FETCH_HEADER) == "1":
            return Response(status_code=204)
        return RedirectResponse("/", 303)

    @app.get("/events")
    async def events(request: Request, after: str = "0") -> Response:
        resumed = request.headers.get("last-event-id", after)  # a stream that reconnects goes on from there
        if not all(re.fullmatch(r"[0-9]{1,18}", value) for value in (after, resumed)):
            return PlainTextResponse("after must be an event number", 400)
        return StreamingResponse(_stream(page, max(int(after), int(resumed))), media_type="text/event-stream")

    return app


async def _stream(page: StationPage, after: int):
    """Server-Sent Events: each event after `after`; `reload` when the page must be drawn again."""
    loop, wake = asyncio.get_running_loop(), asyncio.Event()
    page.subscribe(loop, wake)
    try:
        yield "retry: 2000\n\n"
        while True:
            wake.clear()
            events, missed = page.since(after)
            if missed:
                yield "event: reload\ndata: {}\n\n"
                return
            for event in events:
                after = event["seq"]
                if event["kind"] == "reload":
                    yield f"id: {after}\nevent: reload\ndata: {{}}\n\n"
                    return
                if event["kind"] != "closing":
                    yield f"id: {after}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"
            if page.closing:
                return
            try:
                await asyncio.wait_for(wake.wait(), KEEP_ALIVE_S)
            except TimeoutError:
                yield ": keep-alive\n\n"
    finally:
        page.unsubscribe(loop, wake)


# --- serving it -----------------------------------------------------------------------------------
class PageServer:
    """The page served by uvicorn on host:port (0 picks a free port); `url` is known once made."""

    def __init__(self, app: FastAPI, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT):
        self.app = app
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((host, port))
            self._socket.listen(128)
        except OSError:
            self._socket.close()
            raise
        bound = self._socket.getsockname()[1]
        self.url = f"http://{f'[{host}]' if family == socket.AF_INET6 else host}:{bound}/"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Serve until stopped (Ctrl-C in the main thread, or `stop()`)."""
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self.app.state.page.close()
            self._socket.close()

    def start(self, timeout_s: float = 10.0) -> PageServer:
        """Serve on a thread of its own; returns once it answers."""
        self._thread = threading.Thread(target=self.run, name="station-page", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the station's page did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.app.state.page.close()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> PageServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(app: FastAPI, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          on_listening: Callable[[str], None] | None = None) -> None:
    """Serve the page until interrupted; `on_listening(url)` once the port is bound (else OSError)."""
    server = PageServer(app, host, port)
    if on_listening is not None:
        on_listening(server.url)
    server.run()
