"""A small client of the service's v1 REST API: HTTP Basic, JSON errors as exceptions, paging, SSE."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    import httpx

DEFAULT_TIMEOUT = 30.0


class ApiError(Exception):
    """A request the service refused or could not answer; str() is one sentence."""

    def __init__(self, message: str, status: int | None = None, code: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


def api_path(*segments: str) -> str:
    """A REST path from its segments, each quoted: a name with '/', '?' or '#' stays one segment."""
    return "".join("/" + quote(segment, safe="") for segment in segments)


class ApiClient:
    """One account's view of one service."""

    def __init__(self, url: str, account_sid: str, auth_token: str, timeout: float = DEFAULT_TIMEOUT):
        import httpx  # loaded by the first client, not by every command that imports this module

        self.url = url.rstrip("/")
        # No Nagle: a request's headers and body go in separate writes, and the second would wait for
        # the service's delayed ACK (~40 ms a request; a remote debugger makes one per GDB packet).
        transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        try:
            self._http = httpx.Client(base_url=self.url, auth=(account_sid, auth_token), timeout=timeout,
                                      transport=transport)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise ApiError(f"{url!r} is not a usable service URL ({exc})") from None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ApiError(f"cannot reach the service at {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise _error(response)
        return response

    def get(self, path: str, **params: Any) -> dict:
        return self._object(self.request("GET", path, params=params or None))

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> dict:
        form = None if data is None else {k: _form_value(v) for k, v in data.items() if v is not None}
        response = self.request("POST", path, data=form, **kwargs)
        return self._object(response) if response.content else {}

    def _object(self, response: httpx.Response) -> dict:
        """The JSON object a response holds; ApiError when it holds something else (not the service)."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ApiError(f"{self.url} answered {response.request.method} {response.request.url.path} "
                           "with something other than a JSON object; is it the Microvisor service?")
        return body

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def pages(self, path: str, key: str, page_size: int = 50, **params: Any) -> Iterator[dict]:
        """Every item of a paged list (filtered by params), following meta.next_page_url."""
        body = self.get(path, PageSize=page_size, **params)
        while True:
            yield from body.get(key, [])
            next_url = (body.get("meta") or {}).get("next_page_url")
            if not next_url:
                return
            body = self._object(self.request("GET", next_url))

    def upload(self, path: str, field: str, filename: str, data: bytes, form: dict[str, str],
               progress: Callable[[int], None] | None = None,
               more_files: dict[str, tuple[str, bytes]] | None = None) -> dict:
        """A multipart upload (with more_files: field → (filename, bytes)); progress(n) is called as the
        request body is sent."""
        files = {field: (filename, data), **(more_files or {})}
        request = self._http.build_request("POST", path, files=files, data=form)
        body = request.read()

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), 64 * 1024):
                chunk = body[start : start + 64 * 1024]
                yield chunk
                if progress is not None:
                    progress(len(chunk))

        headers = dict(request.headers)
        return self._object(self.request("POST", path, content=chunks(), headers=headers))

    def events(self, path: str, on_open: Callable[[], None] | None = None,
               **params: Any) -> Iterator[tuple[str, dict]]:
        """Server-sent events of a stream: (event name, JSON data), until the server ends it.
        `on_open` is called once the service has accepted the stream."""
        import httpx

        try:
            with self._http.stream("GET", path, params=params or None, timeout=None) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                if on_open is not None:
                    on_open()
                name, data = "message", []
                for line in response.iter_lines():
                    if not line:
                        if data:
                            yield name, _event_data("\n".join(data))
                        name, data = "message", []
                    elif line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ApiError(f"the stream from {self.url} broke: {exc}") from None


def _event_data(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ApiError("the service sent an event that is not a JSON object")
    return value


def _form_value(value: Any) -> str | list[str]:
    """A form field's text; a list is the field repeated."""
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message, code = str(body.get("message") or response.reason_phrase), body.get("code")
    else:
        message, code = response.reason_phrase or "error", None
    return ApiError(f"{message} (HTTP {response.status_code})", response.status_code, code)
