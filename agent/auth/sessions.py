"""Server-side browser sessions: the cookie carries a random token, the table its hash.

Kept in the database (not a signed cookie) so that logging out revokes at once and
every replica agrees."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select

from agent.auth.principal import Principal
from agent.auth.users import principal_of
from agent.store.database import utc
from agent.store.models import User, WebSession
from agent.store.store import Store

SESSION_COOKIE = "tact_session"
SESSION_LIFETIME = dt.timedelta(hours=12)


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    csrf_token: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def open_session(store: Store, principal: Principal) -> tuple[str, SignedIn]:
    """A new session for `principal`: (cookie token, who and their CSRF token)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = _now()
    async with store.write() as session:
        # Expired rows are of no use to anyone: sweep them whenever someone signs in.
        await session.execute(delete(WebSession).where(WebSession.expires_at < now))
        session.add(
            WebSession(
                id=_token_hash(token),
                username=principal.username,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
    return token, SignedIn(principal, csrf)


async def session_for_token(store: Store, token: str) -> SignedIn | None:
    """The live session a cookie token names, or None (unknown, expired or revoked)."""
    async with store.read() as session:
        row = (
            await session.execute(
                select(WebSession, User)
                .join(User, User.username == WebSession.username)
                .where(WebSession.id == _token_hash(token))
            )
        ).one_or_none()
    if row is None:
        return None
    web_session, user = row
    if utc(web_session.expires_at) <= _now():
        return None
    # Role and tenant come from the user row, not the session, so a change applies at once.
    return SignedIn(principal_of(user), web_session.csrf_token)


async def close_session(store: Store, token: str) -> bool:
    async with store.write() as session:
        result = await session.execute(
            delete(WebSession).where(WebSession.id == _token_hash(token))
        )
    return bool(getattr(result, "rowcount", 0))
