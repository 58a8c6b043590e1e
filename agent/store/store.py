"""The store: one engine, a session factory, and the single way to write."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agent.store.database import create_engine, migrate, session_factory


class StoreUnreachable(SQLAlchemyError):
    """The database could not be reached (refused, reset, timed out). asyncpg raises
    these as plain OSErrors that SQLAlchemy passes through unwrapped; as a
    SQLAlchemyError they take the same fail-closed path as every other store failure
    (503 `store_unavailable`, nothing said)."""


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        # SQLite allows one writer; queueing writers here avoids "database is locked"
        # retries inside the process. PostgreSQL relies on row locks instead.
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    async def open(cls, url: str, echo: bool = False) -> Store:
        store = cls(create_engine(url, echo=echo))
        await migrate(store.engine)
        return store

    async def close(self) -> None:
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self.sessions() as session:
                yield session
        except OSError as exc:
            raise StoreUnreachable(f"{type(exc).__name__}: {exc}") from exc

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits on exit, durably, or rolls back on error."""
        lock = self._write_lock or contextlib.nullcontext()
        try:
            async with lock, self.sessions() as session, session.begin():
                yield session
        except OSError as exc:
            raise StoreUnreachable(f"{type(exc).__name__}: {exc}") from exc
