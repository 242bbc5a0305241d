"""The HTTP requests of devices' HTTP channels, performed by the service with httpx, bounded.

A request is checked as the published MvHttpResult codes describe (a method of GET, HEAD, POST, PUT,
DELETE, PATCH or OPTIONS; an https:// URL; headers "Name: value" of printable ASCII; a timeout of 5 to
10 s), its destination as cloud/destinations.py rules, and then sent to the address found, with the
host's name for TLS (SNI and the certificate check) and the Host header. Redirects are not followed (the
application sees the 3xx). The response body is read up to the device's receive buffer and no further:
a larger one is RESPONSETOOLARGE. Anything that fails on the way (refused destination, DNS, TCP, TLS,
the timeout) is REQUESTFAILED, logged with the reason.
"""

from __future__ import annotations

import logging
import re
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from .destinations import DestinationRefused, Destinations

log = logging.getLogger(__name__)

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
MIN_TIMEOUT_MS, MAX_TIMEOUT_MS = 5000, 10000
_HEADER = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\x20-\x7e]*)")
_CONNECTION_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass(frozen=True)
class HttpAnswer:
    result: str  # an MvHttpResult name
    status: int = 0
    headers: tuple[str, ...] = ()
    body: bytes = b""


class HttpRelay:
    """Performs requests; one httpx client (its connection pool) for every device."""

    def __init__(self, destinations: Destinations, ca_file: str | None = None):
        self.destinations = destinations
        context = ssl.create_default_context()
        if ca_file:
            context.load_verify_locations(cafile=ca_file)
        self._client = httpx.Client(verify=context, follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self._client.close()

    def perform(self, request: dict[str, Any], window: int, allow_list: str | None) -> HttpAnswer:
        method = str(request.get("method", "")).upper()
        if method not in METHODS:
            return HttpAnswer("UNSUPPORTEDMETHOD")
        try:
            url = urlsplit(str(request.get("url", "")))
            port = url.port or 443
        except ValueError:
            return HttpAnswer("UNSUPPORTEDURISCHEME")
        if url.scheme.lower() != "https" or not url.hostname:
            return HttpAnswer("UNSUPPORTEDURISCHEME")
        headers = []
        for line in request.get("headers", []):
            match = _HEADER.fullmatch(str(line))
            if match is None:
                return HttpAnswer("INVALIDHEADERS")
            if match.group(1).lower() not in _CONNECTION_HEADERS:
                headers.append((match.group(1), match.group(2)))
        timeout_ms = request.get("timeout_ms")
        if type(timeout_ms) is not int or not MIN_TIMEOUT_MS <= timeout_ms <= MAX_TIMEOUT_MS:
            return HttpAnswer("INVALIDTIMEOUT")
        host = url.hostname
        try:
            address = self.destinations.address(host, port, allow_list)
        except DestinationRefused as exc:
            log.info("HTTP request to %s refused: %s", host, exc)
            return HttpAnswer("REQUESTFAILED")
        netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        target = urlunsplit(("https", netloc, url.path or "/", url.query, ""))
        default_port = port == 443
        headers.append(("Host", host if default_port else f"{host}:{port}"))
        try:
            with self._client.stream(method, target, headers=headers, content=request.get("body", b""),
                                     timeout=timeout_ms / 1000,
                                     extensions={"sni_hostname": host}) as response:
                body = bytearray()
                for piece in response.iter_bytes():
                    body += piece
                    if len(body) > window:
                        return HttpAnswer("RESPONSETOOLARGE", response.status_code)
                lines = tuple(f"{name.decode('latin-1')}: {value.decode('latin-1')}"
                              for name, value in response.headers.raw)  # as the server spelt them
                return HttpAnswer("OK", response.status_code, lines, bytes(body))
        except (httpx.HTTPError, ssl.SSLError, OSError, ValueError) as exc:
            log.info("HTTP request to %s failed: %s", host, exc)
            return HttpAnswer("REQUESTFAILED")
