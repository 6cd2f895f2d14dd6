"""The database: a pool of connections and the queries the app runs on it (outages.py: failures).

    database = Database("sqlite+aiosqlite:///./app.db")
    await database.connect()
    rows = await database.fetch_all(notes.select())       # a list of dicts
    row = await database.fetch_one(NOTE_BY_ID, {"id": 1})  # a dict, or None
    note = await database.insert(notes.insert().values(title="t", body=""))  # the new row
    async with database.transaction():
        note_id = await database.execute(notes.insert().values(title="t", body=""))

Queries are SQLAlchemy Core statements or raw SQL with `:name` parameters. This is the only
module that imports `databases` (`plans.py` and `sqlite.py` read a few of its private parts,
listed in `plans.PRIVATE`), so replacing it touches these three files.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import databases
from sqlalchemy.engine import make_url
from sqlalchemy.sql import ClauseElement, Insert

from . import metrics, tracing
from .outages import DatabaseMissing, DatabaseUnavailable, Outages, OutcomeUnknown
from .plans import RUN, Plan, Plans, Row, writing
from .sqlite import SQLitePool, WriterTurns

logger = logging.getLogger(__name__)

Query = ClauseElement | str

__all__ = [
    "Database",
    "DatabaseMissing",
    "DatabaseUnavailable",
    "OutcomeUnknown",
    "Query",
    "Row",
    "is_missing_database",
    "missing_database",
]


class Database:
    """A connection pool with the queries the app needs; rows come back as plain dicts.

    If the server is down at start-up the app still starts: every call tries to connect
    again, and raises `DatabaseUnavailable` until the server answers.
    """

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 10.0
    ) -> None:
        self.url = url
        backend = make_url(url).get_backend_name()
        options = _pool_options(backend, min_size, max_size, timeout)
        self._database = databases.Database(url, **options)
        self._plans = Plans(self._database._backend._dialect)
        self._run = RUN[backend]
        # One INSERT ... RETURNING gives the new row. MySQL has no RETURNING, MariaDB has since
        # 10.5: which server it is shows once connected.
        self._returning = backend != "mysql" and sqlite3.sqlite_version_info >= (3, 35)
        self._mysql = backend == "mysql"
        self._connecting = asyncio.Lock()
        self._ping: asyncio.Future[Any] | None = None
        self._sqlite: SQLitePool | None = None
        self._turns = WriterTurns()  # SQLite's one writer at a time
        if backend == "sqlite":
            # `databases` opens (and closes) a SQLite connection for every query: keep two.
            sqlite = self._database._backend
            sqlite._pool = self._sqlite = SQLitePool(sqlite._pool)

    async def connect(self) -> None:
        try:
            await self._connected()
        except DatabaseUnavailable as exc:
            logger.warning("Database unavailable at start-up, will retry: %s", exc)

    async def disconnect(self) -> None:
        if self._ping is not None:
            self._ping.cancel()
        pool = getattr(self._database._backend, "_pool", None)
        if isinstance(pool, SQLitePool):
            await pool.close()
        if self._database.is_connected:
            await self._database.disconnect()

    async def fetch_all(self, query: Query, values: Mapping[str, Any] | None = None) -> list[Row]:
        plan, (columns, rows) = await self._call(query, values, "all")
        return plan.rows(columns, rows)

    async def fetch_one(self, query: Query, values: Mapping[str, Any] | None = None) -> Row | None:
        plan, (columns, rows) = await self._call(query, values, "one")
        return plan.rows(columns, rows[:1])[0] if rows else None

    async def fetch_val(self, query: Query, values: Mapping[str, Any] | None = None) -> Any:
        plan, (_, rows) = await self._call(query, values, "one")
        return plan.value(rows[0]) if rows else None

    async def execute(self, query: Query, values: Mapping[str, Any] | None = None) -> Any:
        """Run a write: the result is an insert's new primary key, else the rows it changed."""
        _, result = await self._call(query, values, "execute")
        return result

    async def insert(self, statement: Insert, values: Mapping[str, Any] | None = None) -> Row:
        """Insert one row and return it as stored: its new key and the server's defaults.

        One statement, `INSERT ... RETURNING`, on SQLite (3.35 and later), PostgreSQL and
        MariaDB (10.5 and later); on MySQL, the insert and a read by the new key in one
        transaction.
        """
        if self._returning:
            row = await self.fetch_one(self._plans.returning(statement), values)
        else:
            async with self.transaction():
                key = await self.execute(statement, values)
                row = await self.fetch_one(self._plans.by_key(statement), {"key": key})
        if row is None:
            raise LookupError(f"the row inserted into {statement.table} was not found")
        return row

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Everything awaited inside commits together, or not at all."""
        database = await self._connected()
        if writing.get():  # nested: a savepoint inside the transaction this task holds
            with Outages():
                async with database.transaction():
                    yield
            return
        async with self._turns.transaction() if self._sqlite else nullcontext():
            token = writing.set(True)
            outages = Outages()
            connection = database.connection()  # this task's: the transaction takes it too
            try:
                with outages:
                    async with database.transaction():
                        yield
                        # Past here only the COMMIT: lost in flight, it may have been applied.
                        outages.unknown = self._sqlite is None
            finally:
                writing.reset(token)
                if await _give_back(connection) and self._mysql:
                    await _wake_waiters(database._backend._pool)

    async def ping(self) -> None:
        """Raise `DatabaseUnavailable` unless the database answers a trivial query.

        Callers share the query in flight. One that stops waiting (a timeout) leaves it to
        finish: cancelled half-way, a hung query would hold the caller in the pool's cleanup.
        """
        if self._ping is None or self._ping.done():
            self._ping = asyncio.ensure_future(self.fetch_val("SELECT 1"))
            self._ping.add_done_callback(_seen)
        await asyncio.shield(self._ping)

    async def _call(
        self, query: Query, values: Mapping[str, Any] | None, mode: str
    ) -> tuple[Plan, Any]:
        plan = self._plans.get(query)
        arguments = plan.arguments(values)
        database = self._database if self._database.is_connected else await self._connected()
        with Outages(), metrics.QueryTimer(), tracing.query(plan.sql, self._plans.dialect.name):
            if writing.get():  # this task holds a transaction: its connection, from `databases`
                async with database.connection() as connection:
                    async with connection._query_lock:
                        raw = connection.raw_connection
                        return plan, await self._run(raw, plan, arguments, mode)
            # Otherwise one statement, committed on its own, on a connection from the driver.
            if self._sqlite is None:
                pool = database._backend._pool
                try:
                    async with pool.acquire() as raw:
                        # A write commits on its own: lost once sent, it may have been applied.
                        with Outages(unknown=mode == "execute" or plan.is_write):
                            return plan, await self._run(raw, plan, arguments, mode)
                except DatabaseUnavailable:
                    if self._mysql:
                        await _wake_waiters(pool)
                    raise
            if mode == "execute" or plan.is_write:
                async with self._turns.single():
                    raw = await self._sqlite.writer()
                    return plan, await self._run(raw, plan, arguments, mode)
            return plan, await self._run(await self._sqlite.shared(), plan, arguments, mode)

    async def _connected(self) -> databases.Database:
        if not self._database.is_connected:
            async with self._connecting:
                if not self._database.is_connected:
                    try:
                        with Outages():
                            await self._database.connect()
                    except Exception as exc:
                        if is_missing_database(exc):
                            raise DatabaseMissing(missing_database(self.url)) from exc
                        raise
                    if self._mysql:
                        await self._learn_returning()
        return self._database

    async def _learn_returning(self) -> None:
        version = str(await self.fetch_val("SELECT VERSION()"))  # e.g. 10.11.6-MariaDB-0+deb12u1
        mariadb = re.search(r"(\d+)\.(\d+)\.\d+-MariaDB", version)
        self._returning = mariadb is not None and (int(mariadb[1]), int(mariadb[2])) >= (10, 5)
        # SQLAlchemy's MySQL dialect learns this on its own connections; these are not its own.
        self._plans.dialect.insert_returning = self._returning


async def _give_back(connection: databases.core.Connection) -> bool:
    """Return to the pool the connection of a transaction whose COMMIT or ROLLBACK raised.

    `databases` hands a transaction's connection back only once its COMMIT or ROLLBACK
    succeeds, so one cut there stays checked out. asyncpg's pool takes back a lost connection
    by itself; aiomysql's keeps it as in use for good, and its close() then waits for it. The
    pool's own release() discards it: aiomysql drops a connection that is closed (it closes
    itself when its server is lost) and closes one still inside a transaction; asyncpg
    terminates a broken one, and ignores one it has taken back already.
    """
    held = bool(connection._connection_counter)
    try:
        while connection._connection_counter:  # the holds of transactions that never let go
            await connection.__aexit__()
    except Exception:  # the error that ended the transaction is the one to report
        logger.warning("Could not return a failed transaction's connection", exc_info=True)
    return held


async def _wake_waiters(pool: Any) -> None:
    """After a lost connection, give its place in aiomysql's pool to a query waiting for one.

    aiomysql's release() wakes no waiter when the connection it takes back is closed (asyncpg's
    does), so with every place taken a waiting query would wait for good. A query waits only
    while no connection is idle; then the pool's public clear() has none to close, and wakes one.
    """
    if pool.freesize == 0:
        await pool.clear()


def _seen(ping: asyncio.Future[Any]) -> None:
    # Its outcome reached whoever still waited; asyncio must not report it as never retrieved.
    if not ping.cancelled():
        ping.exception()


def _pool_options(backend: str, min_size: int, max_size: int, timeout: float) -> dict[str, Any]:
    if backend == "sqlite":
        return {"timeout": timeout}  # how long a writer waits for the file lock
    if backend == "postgresql":
        return {
            "min_size": min_size,
            "max_size": max_size,
            "timeout": timeout,
            "command_timeout": timeout,
        }
    # MySQL: naive DATETIMEs are read and written in UTC, like the other backends.
    return {
        "min_size": min_size,
        "max_size": max_size,
        "connect_timeout": timeout,
        "init_command": "SET time_zone = '+00:00'",
    }


_MYSQL_UNKNOWN_DATABASE = 1049
_POSTGRES_UNKNOWN_DATABASE = "3D000"  # invalid_catalog_name


def is_missing_database(exc: BaseException) -> bool:
    """Whether the driver error under `exc` says the database does not exist."""
    for _ in range(10):  # SQLAlchemy and `databases` wrap the driver's error a few levels deep
        if getattr(exc, "sqlstate", None) == _POSTGRES_UNKNOWN_DATABASE:
            return True
        module = type(exc).__module__.split(".")[0]
        if module in {"pymysql", "asyncmy"} and exc.args[:1] == (_MYSQL_UNKNOWN_DATABASE,):
            return True
        cause = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
        if not isinstance(cause, BaseException):
            return False
        exc = cause
    return False


def missing_database(url: str) -> str:
    """One sentence naming the database that does not exist and the command that creates it."""
    return (
        f"the database {make_url(url).database!r} does not exist on the server DATABASE_URL "
        "names; create it with scripts/createdb"
    )
