"""Open a migrated store on a fresh SQLite file or a fresh PostgreSQL database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from alembic import command
from sqlalchemy.engine import Connection

from agent.store.database import alembic_config
from agent.store.store import Store
from bench.postgres import POSTGRES_URL as POSTGRES_URL
from bench.postgres import fresh_postgres_url

DATABASES = ["sqlite", "postgres"]


@contextlib.asynccontextmanager
async def fresh_database_url(kind: str, directory: Path) -> AsyncIterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'test.db'}"
        return
    async with fresh_postgres_url("tact_test") as url:
        yield url


@contextlib.asynccontextmanager
async def open_store(kind: str, directory: Path) -> AsyncIterator[Store]:
    async with fresh_database_url(kind, directory) as url:
        store = await Store.open(url)
        try:
            yield store
        finally:
            await store.close()


def downgrade(connection: Connection, revision: str) -> None:
    """Alembic's downgrade on an open connection (run it with `conn.run_sync`)."""
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)
