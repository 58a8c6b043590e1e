"""Redis dies while the service runs, then comes back.

A private `redis-server` on a free port (the shared one is never touched) carries the
live events (AGENT_REDIS_URL). It is killed mid-conversation:

- chat turns keep succeeding (publishing never fails a logged turn) and the event bus
  degrades to in-process with a WARNING (`event_bus_degraded`); this process's live
  subscribers (the assist panel) still get every turn;
- when Redis is back the bus reconnects by itself (`event_bus_restored`) and events
  flow through Redis again.

Run alone: `.venv/bin/pytest tests/faults/test_redis_down.py -q`.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis.asyncio as redis
from fastapi import FastAPI

from agent.app import create_app
from agent.events import RedisEventBus, Subscription
from agent.settings import Settings
from bench.server import free_port
from tests.conftest import fixed_clock, http_client

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed"
)


@contextmanager
def redis_server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield process
    finally:
        process.kill()
        process.wait()


async def until_ready(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        async with asyncio.timeout(20):
            while True:
                try:
                    await client.ping()
                    return
                except (redis.RedisError, OSError):
                    await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def until(check: Callable[[], bool], limit_s: float = 20.0) -> None:
    # Polls the bus's mode (it has no event to wait on); the limit guards against a hang.
    async with asyncio.timeout(limit_s):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest.fixture
async def redis_app(
    tmp_path: Path,
) -> AsyncIterator[tuple[FastAPI, int, subprocess.Popen[bytes]]]:
    port = free_port()
    settings = Settings(
        data_dir=tmp_path,
        database_url="",
        log_format="console",
        environment="test",
        analyzer="lexicon",
        redis_url=f"redis://127.0.0.1:{port}/0",
    )
    application = create_app(settings, clock=fixed_clock)
    with redis_server(port) as server:
        await until_ready(settings.redis_url)
        async with application.router.lifespan_context(application):
            yield application, port, server


async def turn_event(events: Subscription, text: str) -> None:
    while True:
        event = await events.next_within(10)
        assert event is not None, f"no live event for {text!r}"
        if event.get("role") == "debtor" and event.get("text") == text:
            return


async def test_redis_dying_mid_conversation_degrades_then_reconnects(
    redis_app: tuple[FastAPI, int, subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    app, port, server = redis_app
    bus = app.state.services.events
    assert isinstance(bus, RedisEventBus) and bus.mode == "redis"
    bus.retry_s = 0.2  # reconnect quickly in the test (default RETRY_S)
    events = bus.subscribe("tenant:demo")
    async with http_client(app) as client:
        created = await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
        assert created.status_code == 201
        say = f"/v1/chat/sessions/{created.json()['session_id']}/messages"
        assert (await client.post(say, json={"text": "April 12th 1985"})).status_code == 200
        await turn_event(events, "April 12th 1985")

        server.kill()  # Redis dies (kill -9); a new one comes up on the same port below
        server.wait()
        with caplog.at_level(logging.WARNING, logger="agent.events"):
            for text in ("I'm not sure what you mean", "Sorry, can you explain that again?"):
                response = await client.post(say, json={"text": text})
                assert response.status_code == 200, response.text
                await turn_event(events, text)  # still delivered, in-process
            await until(lambda: bus.mode == "memory")
        degraded = [r for r in caplog.records if r.getMessage() == "event_bus_degraded"]
        assert degraded and all(r.levelno == logging.WARNING for r in degraded)

        # Redis is back: the bus reconnects by itself, and events go through Redis again.
        with caplog.at_level(logging.INFO, logger="agent.events"), redis_server(port):
            await until_ready(bus.url)
            await until(lambda: bus.mode == "redis")
            assert any(r.getMessage() == "event_bus_restored" for r in caplog.records)
            watcher = redis.Redis.from_url(bus.url).pubsub()
            await watcher.psubscribe("tact:*")
            try:
                response = await client.post(say, json={"text": "Hmm, what?"})
                assert response.status_code == 200, response.text
                await turn_event(events, "Hmm, what?")
                async with asyncio.timeout(10):
                    seen = None
                    while seen is None or seen["type"] != "pmessage":
                        seen = await watcher.get_message(timeout=1)
                assert seen["channel"].decode() == "tact:tenant:demo"
            finally:
                await watcher.aclose()
        verify = await client.get("/v1/audit/verify")
        assert verify.json()["ok"] is True


async def test_a_bus_started_while_redis_is_down_connects_when_it_comes_up() -> None:
    port = free_port()
    bus = RedisEventBus(f"redis://127.0.0.1:{port}/0", retry_s=0.2)
    await bus.start()
    try:
        assert bus.mode == "memory"
        with redis_server(port):
            await until(lambda: bus.mode == "redis")
    finally:
        await bus.close()
