"""SQLite through aiosqlite with one trip to the driver's thread per statement.

aiosqlite runs each sqlite3 call on its own thread and hands the result back to the event
loop. SQLAlchemy's adapter makes one such trip per driver call: open a cursor, execute,
fetch, close, so four per SELECT and three per INSERT or UPDATE. Each trip waits for the
loop to get round to it, and under load the loop has other work queued. A write
transaction holds SQLite's single write lock (`Store.write`) across all of its trips, so
the trips, not SQLite, set how many turns per second the embedded default takes: with
100 chat sessions the lock was held 93% of the time, ~19 ms per turn transaction, for
well under a millisecond of SQLite work (README, "Load").

`OneTripCursor` does the whole statement (cursor, execute, fetch, close) in one call on
the driver's thread and keeps the results: the same SQL, the same connection, the same
thread, the same errors. `create_engine` uses it for `sqlite+aiosqlite` URLs when the
installed aiosqlite has the two internals it needs (`Connection._execute`, `_conn`);
otherwise SQLAlchemy's own adapter is used unchanged.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

_Result = tuple[Any, list[Any], int, int | None]  # description, rows, rowcount, lastrowid


def supported() -> bool:
    """Whether the installed aiosqlite has the internals the one-trip cursor uses."""
    return hasattr(aiosqlite.Connection, "_execute") and hasattr(aiosqlite.Connection, "_conn")


def _run(raw: sqlite3.Connection, operation: str, parameters: Any) -> _Result:
    """One statement on the driver's thread."""
    cursor = raw.cursor()
    try:
        cursor.execute(operation, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _run_many(raw: sqlite3.Connection, operation: str, rows: Sequence[Any]) -> _Result:
    cursor = raw.cursor()
    try:
        cursor.executemany(operation, rows)
        return None, [], cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor: each execute fetches every row in the same trip."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:  # no trip to open a driver cursor
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # the base class's close() skips it
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]  # None before any insert

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        """Nothing is left open on the driver: the rows were fetched with the statement."""

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._trip(_run, operation, parameters)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._trip(_run_many, operation, seq_of_parameters)

    async def _trip(self, work: Callable[..., _Result], operation: Any, arguments: Any) -> None:
        connection = self._connection
        async with self._adapt_connection._execute_mutex:
            result = await connection._execute(work, connection._conn, operation, arguments)
        self._description, rows, self._rowcount, self._lastrowid = result
        self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module SQLAlchemy's aiosqlite dialect is given (`module=`)."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        # The stock adapter opens the connection (and marks its thread a daemon); the
        # one-trip adapter then wraps the same aiosqlite connection.
        stock = super().connect(*arg, **kw)
        return OneTripConnection(self, stock._connection)
