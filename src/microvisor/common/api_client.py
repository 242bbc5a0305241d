"""A small client of the service's v1 REST API: HTTP Basic, JSON errors as exceptions, paging, SSE."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx

DEFAULT_TIMEOUT = 30.0


class ApiError(Exception):
    """A request the service refused or could not answer; str() is one sentence."""

    def __init__(self, message: str, status: int | None = None, code: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class ApiClient:
    """One account's view of one service."""

    def __init__(self, url: str, account_sid: str, auth_token: str, timeout: float = DEFAULT_TIMEOUT):
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, auth=(account_sid, auth_token), timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the service at {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise _error(response)
        return response

    def get(self, path: str, **params: Any) -> dict:
        return self.request("GET", path, params=params or None).json()

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> dict:
        form = None if data is None else {k: _form_value(v) for k, v in data.items() if v is not None}
        response = self.request("POST", path, data=form, **kwargs)
        return response.json() if response.content else {}

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def pages(self, path: str, key: str, page_size: int = 50) -> Iterator[dict]:
        """Every item of a paged list, following meta.next_page_url."""
        body = self.get(path, PageSize=page_size)
        while True:
            yield from body.get(key, [])
            next_url = (body.get("meta") or {}).get("next_page_url")
            if not next_url:
                return
            body = self.request("GET", next_url).json()

    def upload(self, path: str, field: str, filename: str, data: bytes, form: dict[str, str],
               progress: Callable[[int], None] | None = None) -> dict:
        """A multipart upload; progress(n) is called as the request body is sent."""
        request = self._http.build_request("POST", path, files={field: (filename, data)}, data=form)
        body = request.read()

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), 64 * 1024):
                chunk = body[start : start + 64 * 1024]
                yield chunk
                if progress is not None:
                    progress(len(chunk))

        headers = dict(request.headers)
        return self.request("POST", path, content=chunks(), headers=headers).json()

    def events(self, path: str, **params: Any) -> Iterator[tuple[str, dict]]:
        """Server-sent events of a stream: (event name, JSON data), until the server ends it."""
        try:
            with self._http.stream("GET", path, params=params or None, timeout=None) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                name, data = "message", []
                for line in response.iter_lines():
                    if not line:
                        if data:
                            yield name, json.loads("\n".join(data))
                        name, data = "message", []
                    elif line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
        except httpx.HTTPError as exc:
            raise ApiError(f"the stream from {self.url} broke: {exc}") from None


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
        message = body.get("message") or response.reason_phrase
        code = body.get("code")
    except ValueError:
        message, code = response.reason_phrase or "error", None
    return ApiError(f"{message} (HTTP {response.status_code})", response.status_code, code)
