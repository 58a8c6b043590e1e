"""Users: create, seed, and check a password."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from agent.auth.passwords import hash_password, needs_rehash, verify_password_async
from agent.auth.principal import Principal, Role, parse_role
from agent.logs import log_event
from agent.store.models import User
from agent.store.store import Store

log = logging.getLogger("agent.auth")


@dataclass(frozen=True)
class UserSpec:
    username: str
    password: str
    role: Role
    tenant: str


def principal_of(user: User) -> Principal:
    return Principal(username=user.username, role=parse_role(user.role), tenant=user.tenant)


async def create_user(store: Store, spec: UserSpec, password_hash: str | None = None) -> Principal:
    hashed = password_hash or await asyncio.to_thread(hash_password, spec.password)
    user = User(
        username=spec.username,
        password_hash=hashed,
        role=spec.role,
        tenant=spec.tenant,
        created_at=dt.datetime.now(dt.UTC),
    )
    async with store.write() as session:
        session.add(user)
    return principal_of(user)


@functools.cache
def _seed_hash(password: str) -> str:
    # Demo passwords are public anyway; hashing each once per process keeps every
    # app start (and every test) from paying for four argon2 hashes.
    return hash_password(password)


async def seed_users(store: Store, specs: Iterable[UserSpec]) -> int:
    """Create the users that are missing (by username); returns how many were added."""
    async with store.read() as session:
        existing = set((await session.execute(select(User.username))).scalars())
    added = 0
    for spec in specs:
        if spec.username in existing:
            continue
        hashed = await asyncio.to_thread(_seed_hash, spec.password)
        await create_user(store, spec, password_hash=hashed)
        added += 1
    return added


async def authenticate(store: Store, username: str, password: str) -> Principal | None:
    """The user if the password matches; None for a wrong password or an unknown user alike."""
    async with store.read() as session:
        user = (
            await session.execute(select(User).where(User.username == username))
        ).scalar_one_or_none()
    if not await verify_password_async(user.password_hash if user else None, password):
        return None
    assert user is not None
    if needs_rehash(user.password_hash):
        # argon2 parameters were raised since this hash was made: upgrade it now,
        # the only moment the plaintext is at hand.
        new_hash = await asyncio.to_thread(hash_password, password)
        async with store.write() as session:
            row = await session.get(User, user.id)
            if row is not None:
                row.password_hash = new_hash
        log_event(log, "password_rehashed", username=username)
    return principal_of(user)
