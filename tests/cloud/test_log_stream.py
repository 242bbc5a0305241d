"""Live log streams: a line stored in this process wakes its streams at once; idle streams keep alive."""

from __future__ import annotations

import asyncio
import json
import threading

from microvisor.cloud.log_stream import LogWakeups, follow


def test_a_line_stored_in_this_process_wakes_the_stream_at_once():
    async def scenario() -> str:
        wakeups, stored = LogWakeups(), []

        async def fetch(after: int) -> list[dict]:
            return [line for line in stored if line["sequence"] > after]

        async def connected() -> bool:
            return False

        with wakeups.watch(7) as wake:
            stream = follow(fetch, 0, wake, connected, poll_interval=60)
            assert (await anext(stream)).startswith(":")
            waiting = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            stored.append({"sequence": 1, "text": "hi"})
            wakeups.notify(8)  # another device's line wakes nobody here
            threading.Thread(target=wakeups.notify, args=(7,)).start()
            message = await asyncio.wait_for(waiting, 5)  # far sooner than the 60 s poll
            await stream.aclose()
        return message

    message = asyncio.run(scenario())
    lines = message.splitlines()
    assert lines[:2] == ["id: 1", "event: log"] and json.loads(lines[2][len("data: "):])["text"] == "hi"


def test_idle_streams_keep_alive_and_end_when_the_client_goes():
    async def scenario() -> list[str]:
        checks = iter([False, False, False, False, True])

        async def fetch(after: int) -> list[dict]:
            return []

        async def disconnected() -> bool:
            return next(checks)

        return [text async for text in follow(fetch, 0, asyncio.Event(), disconnected, poll_interval=0.01,
                                              keepalive_interval=0.02)]

    assert ": keep-alive\n\n" in asyncio.run(scenario())
