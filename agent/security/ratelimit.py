"""Token buckets: N requests per minute per key (an address, a chat session).

A bucket holds up to N tokens and refills N per minute, evenly; a request takes one or
waits. In this process by default (one replica); with AGENT_REDIS_URL the buckets live in
Redis, updated by one Lua script, so every replica counts against the same numbers and
the script's own clock (Redis TIME) is the only clock. When Redis cannot be reached the
bucket falls back to this process (logged): a broken limiter must not stop debtors from
talking, and each replica still brakes on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agent.errors import ServiceError
from agent.logs import log_event

log = logging.getLogger("agent.security.ratelimit")

# Keys kept in memory before full (idle) buckets are dropped: a flood of distinct
# addresses or session ids must not grow the process without bound.
MAX_KEYS = 100_000
IDLE_S = 60.0  # a bucket idle this long has refilled (no rule allows under 1/minute)
REDIS_PREFIX = "tact:ratelimit:"


class RateLimited(ServiceError):
    """429; `retry_after_s` also goes out as the Retry-After header (agent/api/errors.py)."""

    status = 429


@dataclass(frozen=True)
class Rule:
    name: str  # what is counted, e.g. "ip" or "session_turns"; part of the key
    per_minute: int  # bucket size and refill per minute; 0 = no limit

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


class Limiter(Protocol):
    async def take(self, rule: Rule, key: str) -> float:
        """Take a token; returns 0 when allowed, else the seconds until one is free."""
        ...

    async def close(self) -> None: ...


class MemoryLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # tokens, at
        self._swept_at = clock()

    async def take(self, rule: Rule, key: str) -> float:
        return self.take_now(rule, key)

    def take_now(self, rule: Rule, key: str) -> float:
        if rule.per_minute <= 0:
            return 0.0
        now = self._clock()
        slot = (rule.name, key)
        tokens, at = self._buckets.get(slot, (float(rule.per_minute), now))
        tokens = min(float(rule.per_minute), tokens + (now - at) * rule.per_second)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / rule.per_second
        if now - self._swept_at >= IDLE_S:  # memory follows the live keys, not all seen
            self._forget_idle(now)
        if slot not in self._buckets and len(self._buckets) >= MAX_KEYS:
            self._prune(now, rule)
        self._buckets[slot] = (tokens, now)
        return wait

    def _forget_idle(self, now: float) -> None:
        # A bucket idle for a minute is full again: forgetting it changes nothing.
        self._swept_at = now
        horizon = now - IDLE_S
        for slot, (_, at) in list(self._buckets.items()):
            if at <= horizon:
                del self._buckets[slot]

    def _prune(self, now: float, rule: Rule) -> None:
        self._forget_idle(now)
        if len(self._buckets) >= MAX_KEYS:  # all busy: drop the oldest half
            for slot in sorted(self._buckets, key=lambda s: self._buckets[s][1])[: MAX_KEYS // 2]:
                del self._buckets[slot]

    async def close(self) -> None:
        self._buckets.clear()


# KEYS[1] bucket; ARGV[1] capacity, ARGV[2] refill per millisecond. Returns the wait in
# milliseconds as a string (Lua numbers would be truncated to integers on the way out).
_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(saved[1]) or capacity
local at = tonumber(saved[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
return tostring(wait)
"""


class RedisLimiter:
    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        import redis.asyncio as redis

        # Connects on first use; a short timeout so a dead Redis costs little per request.
        self._client: Any = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self._script: Any = self._client.register_script(_TAKE)
        self._fallback = MemoryLimiter(clock)
        self._degraded = False

    async def take(self, rule: Rule, key: str) -> float:
        import redis.asyncio as redis

        if rule.per_minute <= 0:
            return 0.0
        try:
            wait_ms = await self._script(
                keys=[f"{REDIS_PREFIX}{rule.name}:{key}"],
                args=[rule.per_minute, rule.per_second / 1000.0],
            )
        except (redis.RedisError, OSError) as exc:
            if not self._degraded:
                log_event(log, "rate_limit_redis_unavailable", logging.WARNING, error=str(exc))
                self._degraded = True
            return self._fallback.take_now(rule, key)
        if self._degraded:
            log_event(log, "rate_limit_redis_restored")
            self._degraded = False
        return float(wait_ms) / 1000.0

    async def close(self) -> None:
        await self._client.aclose()


def build_limiter(redis_url: str) -> Limiter:
    return RedisLimiter(redis_url) if redis_url else MemoryLimiter()
