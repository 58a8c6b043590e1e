"""Open a Server-Sent Events stream in-process, read it briefly, then hang up.

httpx's ASGI transport waits for the whole body, which a live stream never finishes;
speaking ASGI directly lets a test read the status and the first events, then send
`http.disconnect` as a browser closing the tab would."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI


@dataclass
class StreamRead:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    @property
    def events(self) -> list[dict[str, Any]]:
        return [
            json.loads(line[len("data: ") :])
            for line in self.body.splitlines()
            if line.startswith("data: ")
        ]


async def read_stream(
    app: FastAPI,
    path: str,
    headers: dict[str, str],
    during: Callable[[], Awaitable[None]] | None = None,
    until: Callable[[StreamRead], bool] = lambda read: False,
    timeout_s: float = 1.0,
) -> StreamRead:
    """GET `path`; once the response starts, run `during`, then read until `until` holds
    or `timeout_s` passes, and disconnect."""
    read = StreamRead()
    started, hang_up, progressed = asyncio.Event(), asyncio.Event(), asyncio.Event()
    request_sent = False

    async def receive() -> dict[str, Any]:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            read.status = message["status"]
            read.headers = {k.decode(): v.decode() for k, v in message["headers"]}
            started.set()
        elif message["type"] == "http.response.body":
            read.body += message.get("body", b"").decode()
            progressed.set()

    scope = {
        "type": "http",
        # Below 2.4, Starlette's StreamingResponse watches receive() for the disconnect.
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    task = asyncio.create_task(app(scope, receive, send))
    await asyncio.wait_for(started.wait(), 10)
    if read.status == 200:
        if during is not None:
            await during()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not until(read) and (left := deadline - loop.time()) > 0:
            progressed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progressed.wait(), left)
    hang_up.set()
    await asyncio.wait_for(task, 10)
    return read
