"""The service on a real loopback port (uvicorn in a thread), for protocol tests that
need a real WebSocket client and real time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from agent.app import create_app
from agent.pipeline import Clock
from agent.settings import Settings


@contextmanager
def live_server(settings: Settings, clock: Clock) -> Iterator[str]:
    """Yields "127.0.0.1:<port>" once the app's lifespan has started."""
    app = create_app(settings, clock=clock)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(600):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "the server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
