"""The one-trip SQLite adapter: one trip to aiosqlite's thread per statement, and the
DBAPI behaviour SQLAlchemy relies on (rows, rowcount, lastrowid, errors) unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.store import sqlite_driver
from agent.store.database import create_engine

ITEMS = sa.Table(
    "items",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String, unique=True),
    sa.Column("n", sa.Integer),
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(ITEMS.metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function sent to aiosqlite's thread."""
    sent: list[str] = []
    original: Callable[..., Awaitable[Any]] = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return sent


async def test_the_service_engine_uses_the_one_trip_cursor(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.dbapi_connection, sqlite_driver.OneTripConnection)
        assert isinstance(raw.dbapi_connection.cursor(), sqlite_driver.OneTripCursor)


async def test_a_select_is_one_trip_and_returns_every_row(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))  # the connection is open and in use
        trips.clear()
        result = await conn.execute(sa.text("SELECT 1, 'a' UNION ALL SELECT 2, 'b'"))
        assert trips == ["_run"]
        assert result.all() == [(1, "a"), (2, "b")]


async def test_inserts_updates_and_many_rows_report_ids_and_counts(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.begin() as conn:
        first = await conn.execute(ITEMS.insert().values(name="a", n=1))
        many = await conn.execute(ITEMS.insert(), [{"name": "b", "n": 2}, {"name": "c", "n": 3}])
        updated = await conn.execute(ITEMS.update().where(ITEMS.c.n >= 2).values(n=0))
        rows = (await conn.execute(sa.select(ITEMS.c.name, ITEMS.c.n).order_by("id"))).all()
    assert first.inserted_primary_key == (1,)
    assert many.rowcount == 2
    assert updated.rowcount == 2
    assert rows == [("a", 1), ("b", 0), ("c", 0)]
    assert "_run_many" in trips


async def test_a_constraint_error_surfaces_and_the_connection_carries_on(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(ITEMS.insert().values(name="a", n=1))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(ITEMS.insert().values(name="b", n=2))
            await conn.execute(ITEMS.insert().values(name="a", n=3))  # rolls "b" back too
    async with engine.connect() as conn:
        names = (await conn.execute(sa.select(ITEMS.c.name))).scalars().all()
    assert names == ["a"]


async def test_without_the_aiosqlite_internals_the_stock_adapter_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "supported", lambda: False)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'stock.db'}")
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert not isinstance(raw.dbapi_connection, sqlite_driver.OneTripConnection)
            assert (await conn.execute(sa.text("SELECT 41 + 1"))).scalar() == 42
    finally:
        await engine.dispose()
