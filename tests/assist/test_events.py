"""The event bus: in-process fan-out, Redis across replicas, and the fall-back."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid

import pytest

from agent.events import EventBus, RedisEventBus, build_event_bus
from tests.redis_marker import REDIS_URL, needs_redis


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there once the probe is closed


async def test_fan_out_to_every_subscriber_of_the_topic() -> None:
    bus = EventBus()
    first, second, other = bus.subscribe("tenant:a"), bus.subscribe("tenant:a"), bus.subscribe("x")
    await bus.publish("tenant:a", {"type": "turn", "seq": 1})
    assert await first.next_within(1) == {"type": "turn", "seq": 1}
    assert await second.next_within(1) == {"type": "turn", "seq": 1}
    assert await other.next_within(0.05) is None
    first.close()
    assert bus.subscriber_count("tenant:a") == 1


async def test_a_slow_subscriber_loses_its_oldest_events_not_memory() -> None:
    bus = EventBus(queue_size=3)
    slow = bus.subscribe("t")
    for seq in range(10):
        await bus.publish("t", {"seq": seq})
    assert [(await slow.next_within(1) or {})["seq"] for _ in range(3)] == [7, 8, 9]
    assert slow.dropped == 7


@needs_redis
async def test_two_redis_buses_see_each_others_events() -> None:
    one, two = RedisEventBus(REDIS_URL), RedisEventBus(REDIS_URL)
    await one.start()
    await two.start()
    try:
        assert one.mode == two.mode == "redis"
        topic = f"tenant:test-{uuid.uuid4().hex}"
        on_two, on_one = two.subscribe(topic), one.subscribe(topic)
        await asyncio.sleep(0.1)  # both listeners are subscribed in Redis already
        await one.publish(topic, {"type": "turn", "text": "from replica one"})
        assert await on_two.next_within(5) == {"type": "turn", "text": "from replica one"}
        assert await on_one.next_within(5) == {"type": "turn", "text": "from replica one"}
        await two.publish(topic, {"type": "control", "controlled_by": None})
        assert (await on_one.next_within(5) or {})["type"] == "control"
    finally:
        await one.close()
        await two.close()


async def test_unreachable_redis_at_start_falls_back_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="agent.events"):
        bus = await build_event_bus(f"redis://127.0.0.1:{_closed_port()}/0")
    try:
        assert bus.mode == "memory"
        assert any(r.getMessage() == "event_bus_degraded" for r in caplog.records)
        events = bus.subscribe("tenant:demo")
        await bus.publish("tenant:demo", {"type": "turn"})
        assert await events.next_within(1) == {"type": "turn"}
    finally:
        await bus.close()


@needs_redis
async def test_redis_failing_later_degrades_to_in_process(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis.asyncio as redis

    bus = RedisEventBus(REDIS_URL)
    await bus.start()
    try:
        events = bus.subscribe("tenant:later")

        async def broken(*_: object) -> None:
            raise redis.ConnectionError("connection reset")

        monkeypatch.setattr(bus._client, "publish", broken)
        with caplog.at_level(logging.WARNING, logger="agent.events"):
            await bus.publish("tenant:later", {"type": "turn", "seq": 1})
        assert bus.mode == "memory"
        assert any(r.getMessage() == "event_bus_degraded" for r in caplog.records)
        assert await events.next_within(1) == {"type": "turn", "seq": 1}
    finally:
        await bus.close()
