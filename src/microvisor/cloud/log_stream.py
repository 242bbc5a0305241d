"""Live streams (log lines, debug messages) as server-sent events: woken by this process, polling for what
other processes store."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.5  # seconds: how soon a line stored by another server process shows
KEEPALIVE_INTERVAL = 15.0  # seconds between comment lines that keep idle connections open


class LogWakeups:
    """Wakes the live streams of a device when a log line (or, in its own instance, a debug message) for
    it is stored in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(set)

    @contextmanager
    def watch(self, device_id: int) -> Iterator[asyncio.Event]:
        """An event set whenever notify(device_id) is called, from any thread; call inside the loop."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting[device_id].add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._waiting[device_id].discard(entry)
                if not self._waiting[device_id]:
                    del self._waiting[device_id]

    def notify(self, device_id: int) -> None:
        with self._lock:
            entries = list(self._waiting.get(device_id, ()))
        for loop, event in entries:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that stream's loop has closed
                log.debug("a log stream's event loop closed before its wake-up")


def sse_message(event: str, data: dict, event_id: int | None = None) -> str:
    lines = [] if event_id is None else [f"id: {event_id}"]
    lines += [f"event: {event}", f"data: {json.dumps(data, separators=(',', ':'))}"]
    return "\n".join(lines) + "\n\n"


async def follow(fetch_after: Callable[[int], Awaitable[list[dict]]], after: int, wake: asyncio.Event,
                 is_disconnected: Callable[[], Awaitable[bool]], *, poll_interval: float = POLL_INTERVAL,
                 keepalive_interval: float = KEEPALIVE_INTERVAL, event: str = "log") -> AsyncIterator[str]:
    """SSE text (`event` messages) for every item with a sequence above after, as they are stored, until
    the client goes."""
    yield f": streaming {event} messages\n\n"
    idle = 0.0
    while not await is_disconnected():
        wake.clear()
        lines = await fetch_after(after)
        for line in lines:
            after = line["sequence"]
            yield sse_message(event, line, after)
        if lines:
            idle = 0.0
            continue
        try:
            await asyncio.wait_for(wake.wait(), poll_interval)
        except TimeoutError:
            idle += poll_interval
        if idle >= keepalive_interval:
            idle = 0.0
            yield ": keep-alive\n\n"


def sse_response(request: Request, wakeups: LogWakeups, device_id: int, start: int,
                 fetch_after: Callable[[int], list[dict]], event: str) -> StreamingResponse:
    """The streaming response of a device's live stream: `fetch_after(sequence)` (blocking, run in a
    thread) gives the items stored after a sequence; woken by `wakeups`, polling for other processes."""
    async def fetch_async(after_sequence: int) -> list[dict]:
        return await run_in_threadpool(fetch_after, after_sequence)

    async def messages() -> AsyncIterator[str]:
        with wakeups.watch(device_id) as wake:
            async for text in follow(fetch_async, start, wake, request.is_disconnected, event=event):
                yield text

    return StreamingResponse(messages(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
