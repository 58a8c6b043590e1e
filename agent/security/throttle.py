"""Where the rate limits apply: chat turns (HTTP and WebSocket), new chat sessions,
sign-ins and webhooks. Every limited request counts against its address; a chat turn
also against its session. Checked before anything is read or written, so a refused
request changes nothing."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from agent.logs import log_event
from agent.security.ratelimit import Limiter, RateLimited, Rule
from agent.settings import Settings

log = logging.getLogger("agent.security")


@dataclass(frozen=True)
class Rules:
    ip: Rule
    session_turns: Rule
    ip_sessions: Rule
    ip_logins: Rule

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        return cls(
            Rule("ip", settings.rate_limit_ip_per_minute),
            Rule("session_turns", settings.rate_limit_session_turns_per_minute),
            Rule("ip_sessions", settings.rate_limit_ip_sessions_per_minute),
            Rule("ip_logins", settings.rate_limit_ip_logins_per_minute),
        )


def client_address(connection: HTTPConnection) -> str:
    # What uvicorn reports: the peer, or X-Forwarded-For from a proxy it trusts
    # (FORWARDED_ALLOW_IPS; 127.0.0.1 by default).
    return connection.client.host if connection.client else "unknown"


async def check(connection: HTTPConnection, *limits: tuple[Rule, str]) -> None:
    """Take a token from each (rule, key) bucket in turn; raises RateLimited (429) at the
    first empty one, naming the rule and when to retry."""
    limiter: Limiter = connection.app.state.rate_limiter
    for rule, key in limits:
        wait = await limiter.take(rule, key)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            log_event(
                log,
                "rate_limited",
                logging.WARNING,
                rule=rule.name,
                limit_per_minute=rule.per_minute,
                client=client_address(connection),
                path=connection.url.path,
                retry_after_s=retry_after,
            )
            raise RateLimited(
                "rate_limited",
                f"too many requests ({rule.name}: {rule.per_minute} a minute); "
                f"retry in {retry_after} s",
                retry_after_s=retry_after,
            )


def _rules(connection: HTTPConnection) -> Rules:
    return Rules.of(connection.app.state.services.settings)


async def check_turn(connection: HTTPConnection, session_id: str) -> None:
    rules = _rules(connection)
    await check(
        connection,
        (rules.ip, client_address(connection)),
        (rules.session_turns, session_id),
    )


async def check_new_session(connection: HTTPConnection) -> None:
    rules, address = _rules(connection), client_address(connection)
    await check(connection, (rules.ip, address), (rules.ip_sessions, address))


async def check_login(connection: HTTPConnection) -> None:
    rules, address = _rules(connection), client_address(connection)
    await check(connection, (rules.ip, address), (rules.ip_logins, address))


async def check_webhook(connection: HTTPConnection) -> None:
    # Gateways and processors send from a few addresses for many calls and payments:
    # only the (generous) per-address limit applies.
    await check(connection, (_rules(connection).ip, client_address(connection)))
