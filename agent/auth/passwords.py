"""argon2id password hashes (argon2-cffi defaults: RFC 9106 low-memory profile)."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("not-a-real-password")


async def verify_password_async(stored_hash: str | None, password: str) -> bool:
    """Verify off the event loop (argon2 takes tens of ms by design). An unknown user is
    checked against a dummy hash, so the answer takes as long either way."""
    if stored_hash is None:
        await asyncio.to_thread(verify_password, _dummy_hash(), password)
        return False
    return await asyncio.to_thread(verify_password, stored_hash, password)
