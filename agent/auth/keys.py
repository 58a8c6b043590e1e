"""API keys: `tact_<key id>_<secret>`. The key id finds the row; only the SHA-256 of the
secret is stored, and it is compared in constant time."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select, update

from agent.auth.principal import Principal, Role, parse_role
from agent.store.models import ApiKey
from agent.store.store import Store

PREFIX = "tact_"


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_api_key(store: Store, name: str, role: Role, tenant: str) -> str:
    """Store a new key and return it: the only time it is ever visible."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    async with store.write() as session:
        session.add(
            ApiKey(
                key_id=key_id,
                key_hash=_secret_hash(secret),
                name=name,
                role=role,
                tenant=tenant,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return f"{PREFIX}{key_id}_{secret}"


def _split(key: str) -> tuple[str, str] | None:
    if not key.startswith(PREFIX):
        return None
    key_id, sep, secret = key[len(PREFIX) :].partition("_")
    if not sep or not key_id or not secret:
        return None
    return key_id, secret


async def principal_for_key(store: Store, key: str) -> Principal | None:
    parts = _split(key)
    if parts is None:
        return None
    key_id, secret = parts
    async with store.read() as session:
        row = (
            await session.execute(select(ApiKey).where(ApiKey.key_id == key_id))
        ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, _secret_hash(secret)):
        return None
    return Principal(username=f"key:{row.name}", role=parse_role(row.role), tenant=row.tenant)


async def revoke_api_keys(store: Store, name: str) -> int:
    """Revoke every live key called `name`; returns how many."""
    async with store.write() as session:
        result = await session.execute(
            update(ApiKey)
            .where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
    return int(getattr(result, "rowcount", 0))
