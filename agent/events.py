"""Live events for the assist panel and the chat socket: publish after commit, fan out.

Topics are `tenant:<tenant>` (every event of a tenant: the assist panel's SSE stream)
and `session:<session_id>` (what a chat socket must push, e.g. a human agent's reply).
Events are plain JSON dicts; only events about committed turns are ever published.

`EventBus` fans out inside one process. Each subscriber has a bounded queue: a panel that
stops reading loses its oldest events instead of growing memory without bound (the panel
reloads the conversation when it reconnects, so the log, not the stream, is the record).

`RedisEventBus` (AGENT_REDIS_URL) publishes through Redis pub/sub so every replica's
subscribers see every replica's events. Live updates are a convenience, never the
record: if Redis cannot be reached at start, or the connection fails later, the bus logs
a WARNING and carries on in-process (this replica's events still reach its subscribers),
and tries Redis again every `retry_s` seconds in the background (`event_bus_restored`).
A publish never waits on Redis for more than `PUBLISH_TIMEOUT_S`: it runs after a turn
committed, before the reply, so a hung Redis must not hold replies back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from agent.logs import log_event

log = logging.getLogger("agent.events")

Event = dict[str, Any]
QUEUE_SIZE = 256
# Our channels in a Redis shared with other software.
REDIS_PREFIX = "tact:"
RETRY_S = 5.0
PUBLISH_TIMEOUT_S = 1.0


class Subscription:
    """An async iterator of a topic's events; registered as soon as it is created, so
    nothing published after `subscribe` returns is missed."""

    def __init__(self, bus: EventBus, topic: str, size: int) -> None:
        self.bus = bus
        self.topic = topic
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=size)
        self.dropped = 0

    def offer(self, event: Event) -> None:
        if self.queue.full():
            # Drop the oldest: the newest state is what a live panel needs.
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def next_within(self, seconds: float) -> Event | None:
        """The next event, or None when `seconds` pass without one (SSE keep-alives)."""
        try:
            return await asyncio.wait_for(self.queue.get(), seconds)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.bus.unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.queue.get()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventBus:
    """In-process fan-out."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subscribers: dict[str, set[Subscription]] = {}

    @property
    def mode(self) -> str:
        return "memory"

    async def start(self) -> None:
        """Nothing to connect in-process."""

    async def publish(self, topic: str, event: Event) -> None:
        self.deliver(topic, event)

    def subscribe(self, topic: str) -> Subscription:
        subscription = Subscription(self, topic, self.queue_size)
        self._subscribers.setdefault(topic, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.topic)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.topic]

    def subscriber_count(self, topic: str) -> int:
        return len(self._subscribers.get(topic, ()))

    def deliver(self, topic: str, event: Event) -> None:
        for subscription in list(self._subscribers.get(topic, ())):
            subscription.offer(event)

    async def close(self) -> None:
        self._subscribers.clear()


class RedisEventBus(EventBus):
    """Fan-out across replicas through Redis pub/sub; in-process while Redis is down."""

    def __init__(self, url: str, queue_size: int = QUEUE_SIZE, retry_s: float = RETRY_S) -> None:
        super().__init__(queue_size)
        self.url = url
        self.retry_s = retry_s
        self._client: Any = None  # redis.asyncio.Redis while connected
        self._listener: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def mode(self) -> str:
        return "redis" if self._client is not None else "memory"

    async def start(self) -> None:
        error = await self._connect()
        if error is not None:
            self._degrade("redis_unreachable", error)
            self._reconnect_later()
            return
        log_event(log, "event_bus_started", mode="redis")

    async def _connect(self) -> BaseException | None:
        """Connect and start listening; the error instead when Redis cannot be reached."""
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # No retries inside redis-py (its default backs off for seconds): a failure
        # degrades at once and the reconnect loop below does the retrying.
        client = redis.Redis.from_url(
            self.url, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        try:
            await client.ping()
            pubsub = client.pubsub()
            await pubsub.psubscribe(REDIS_PREFIX + "*")
        except (redis.RedisError, OSError) as exc:
            await client.aclose()
            return exc
        self._client = client
        self._listener = asyncio.create_task(self._listen(pubsub), name="redis-events")
        return None

    def _reconnect_later(self) -> None:
        if self._closed or (self._reconnector is not None and not self._reconnector.done()):
            return
        self._reconnector = asyncio.create_task(self._reconnect(), name="redis-reconnect")

    async def _reconnect(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.retry_s)
            if await self._connect() is None:
                log_event(log, "event_bus_restored", mode="redis")
                return

    async def publish(self, topic: str, event: Event) -> None:
        import redis.asyncio as redis

        client = self._client
        if client is None:
            self.deliver(topic, event)
            return
        try:
            # Local subscribers get it back through `_listen`, like every other replica's.
            await asyncio.wait_for(
                client.publish(REDIS_PREFIX + topic, json.dumps(event, default=str)),
                PUBLISH_TIMEOUT_S,
            )
        except (redis.RedisError, OSError) as exc:  # TimeoutError is an OSError
            await self._drop_redis("redis_publish_failed", exc)
            self.deliver(topic, event)

    async def _listen(self, pubsub: Any) -> None:
        import redis.asyncio as redis

        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                if message is None or message.get("type") != "pmessage":
                    continue
                channel = message["channel"].decode()
                event = json.loads(message["data"])
                self.deliver(channel.removeprefix(REDIS_PREFIX), event)
        except asyncio.CancelledError:
            raise
        except (redis.RedisError, OSError, ValueError) as exc:
            self._listener = None
            await self._drop_redis("redis_listener_failed", exc)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _drop_redis(self, reason: str, exc: BaseException) -> None:
        client, self._client = self._client, None
        listener, self._listener = self._listener, None
        if listener is not None and listener is not asyncio.current_task():
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
        if client is not None:
            self._degrade(reason, exc)
            with contextlib.suppress(Exception):
                await client.aclose()
            self._reconnect_later()

    def _degrade(self, reason: str, exc: BaseException) -> None:
        log_event(
            log,
            "event_bus_degraded",
            logging.WARNING,
            reason=reason,
            error=f"{type(exc).__name__}: {exc}",
            mode="memory",
        )

    async def close(self) -> None:
        self._closed = True
        reconnector, self._reconnector = self._reconnector, None
        if reconnector is not None:
            reconnector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconnector
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        await super().close()


async def build_event_bus(redis_url: str) -> EventBus:
    bus: EventBus = RedisEventBus(redis_url) if redis_url else EventBus()
    await bus.start()
    return bus
