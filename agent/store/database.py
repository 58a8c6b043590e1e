"""Engine and session factory; migrations run through Alembic on start-up."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession  # re-export

from agent.store import sqlite_driver

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_engine(url: str, echo: bool = False) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {}
        if parsed.get_driver_name() == "aiosqlite" and sqlite_driver.supported():
            options["module"] = sqlite_driver.OneTripDBAPI()  # one thread trip per statement
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30}, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the single writer; synchronous=FULL makes a
    # commit durable before we reply (ALL-LOG-FIRST).
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def utc(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes for timezone-aware columns; they are stored in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision` on an existing engine."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)
