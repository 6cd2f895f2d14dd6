"""The one module that talks to the `databases` package and the drivers under it.

Everything else goes through `Database`, so changing the async driver layer touches only this
file. It also knows each backend's URL, pool options and outage errors, and how to create and
drop the test databases.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import re
import shutil
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import databases
from sqlalchemy import text
from sqlalchemy.engine import URL, Compiled, Dialect, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.ddl import DDLElement
from sqlalchemy.sql.elements import BindParameter

logger = logging.getLogger(__name__)

Query = ClauseElement | str
Row = dict[str, Any]

# Backend -> the async drivers `databases` supports for it; the first is the one to suggest.
DRIVERS = {
    "sqlite": ("aiosqlite",),
    "postgresql": ("asyncpg",),
    "mysql": ("aiomysql", "asyncmy"),
}
SCHEME_ALIASES = {"postgres": "postgresql", "mariadb": "mysql"}


class DatabaseUnavailable(Exception):
    """The database server did not answer; the request may succeed later."""


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
        self._connecting = asyncio.Lock()
        self._compiled: dict[Any, Compiled] = {}
        # SQLite takes one writer at a time: transactions queue here rather than on its lock.
        self._one_writer: AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if backend == "sqlite" else nullcontext()
        )
        if backend == "sqlite":
            # `databases` opens (and closes) a SQLite connection for every query: keep them.
            backend_pool = self._database._backend._pool
            self._database._backend._pool = _SQLitePool(backend_pool)

    async def connect(self) -> None:
        try:
            await self._connected()
        except DatabaseUnavailable as exc:
            logger.warning("Database unavailable at start-up, will retry: %s", exc)

    async def disconnect(self) -> None:
        pool = getattr(self._database._backend, "_pool", None)
        if isinstance(pool, _SQLitePool):
            await pool.close()
        if self._database.is_connected:
            await self._database.disconnect()

    async def fetch_all(self, query: Query, values: Mapping[str, Any] | None = None) -> list[Row]:
        database = await self._connected()
        with _outages():
            rows = await database.fetch_all(self._prepare(query, values))
        return [_row(record) for record in rows]

    async def fetch_one(self, query: Query, values: Mapping[str, Any] | None = None) -> Row | None:
        database = await self._connected()
        with _outages():
            row = await database.fetch_one(self._prepare(query, values))
        return None if row is None else _row(row)

    async def fetch_val(self, query: Query, values: Mapping[str, Any] | None = None) -> Any:
        database = await self._connected()
        with _outages():
            return await database.fetch_val(self._prepare(query, values))

    async def execute(self, query: Query, values: Mapping[str, Any] | None = None) -> Any:
        """Run a write; for an insert the result is the new row's primary key."""
        database = await self._connected()
        with _outages():
            return await database.execute(self._prepare(query, values))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Everything awaited inside commits together, or not at all."""
        database = await self._connected()
        if _writing.get():  # nested: a savepoint inside the transaction this task holds
            with _outages():
                async with database.transaction():
                    yield
            return
        async with self._one_writer:
            token = _writing.set(True)
            try:
                with _outages():
                    async with database.transaction():
                        yield
            finally:
                _writing.reset(token)

    async def ping(self) -> None:
        """Raise `DatabaseUnavailable` unless the database answers a trivial query."""
        await self.fetch_val("SELECT 1")

    def _prepare(self, query: Query, values: Mapping[str, Any] | None) -> Any:
        statement = text(query).bindparams(**values or {}) if isinstance(query, str) else query
        if isinstance(statement, DDLElement):
            return statement
        if len(self._compiled) > 1000:  # dynamic SQL should not grow the cache without bound
            self._compiled.clear()
        return _CachedStatement(statement, self._compiled)

    async def _connected(self) -> databases.Database:
        if not self._database.is_connected:
            async with self._connecting:
                if not self._database.is_connected:
                    with _outages():
                        await self._database.connect()
        return self._database


class _Compiled:
    """A cached compiled statement, answering with the values of the statement at hand."""

    def __init__(self, compiled: Compiled, values: Sequence[BindParameter[Any]]) -> None:
        self._compiled = compiled
        self._values = values

    def construct_params(self) -> dict[str, Any]:
        return dict(self._compiled.construct_params(extracted_parameters=self._values) or {})

    @property
    def params(self) -> dict[str, Any]:
        return self.construct_params()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._compiled, name)


class _CachedStatement:
    """Stands in for a statement when `databases` compiles it, reusing the SQL of an earlier one.

    `databases` compiles every statement on every call; this keys the compiled form on
    SQLAlchemy's own cache key (the statement's shape without its values) instead.
    """

    def __init__(self, statement: ClauseElement, cache: dict[Any, Compiled]) -> None:
        self._statement = statement
        self._cache = cache

    def compile(self, dialect: Dialect, compile_kwargs: dict[str, Any]) -> Any:
        key = self._statement._generate_cache_key()
        if key is None or any(value.expanding for value in key.bindparams):
            return self._statement.compile(dialect=dialect, compile_kwargs=compile_kwargs)
        compiled = self._cache.get(key.key)
        if compiled is None:
            compiled = self._statement.compile(
                dialect=dialect, cache_key=key, compile_kwargs=compile_kwargs
            )
            self._cache[key.key] = compiled
            return compiled
        return _Compiled(compiled, key.bindparams)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._statement, name)


_writing: ContextVar[bool] = ContextVar("writing", default=False)


class _SQLitePool:
    """Two long-lived SQLite connections in WAL mode: one shared by every reader, one writer.

    `databases` would open a connection (a thread, with aiosqlite) for every query. Here all
    queries outside a transaction share one connection, whose thread runs them back to back;
    transactions, one at a time (see `Database.transaction`), get the writer connection.
    """

    def __init__(self, opener: Any) -> None:
        self._opener = opener
        self._shared: Any = None
        self._writer: Any = None
        self._opening = asyncio.Lock()

    async def acquire(self) -> Any:
        role = "_writer" if _writing.get() else "_shared"
        if getattr(self, role) is None:
            async with self._opening:
                if getattr(self, role) is None:
                    connection = await self._opener.acquire()
                    await connection.execute("PRAGMA journal_mode = WAL")
                    await connection.execute("PRAGMA synchronous = NORMAL")
                    setattr(self, role, connection)
        return getattr(self, role)

    async def release(self, connection: Any) -> None:
        if connection.in_transaction:  # a failure left it mid-transaction: start afresh
            await self._forget(connection)

    async def close(self) -> None:
        for connection in (self._shared, self._writer):
            if connection is not None:
                await self._forget(connection)

    async def _forget(self, connection: Any) -> None:
        if connection is self._shared:
            self._shared = None
        if connection is self._writer:
            self._writer = None
        await self._opener.release(connection)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._opener, name)


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


def _row(record: Any) -> Row:
    # Iterating a `databases` record yields its column names; indexing converts the value.
    return {column: record[column] for column in record}


# Outages: the errors each driver raises when the server is down or the connection is lost.

_MYSQL_LOST = {2003, 2006, 2013, 2055}  # can't connect, gone away, lost during query, lost
_SQLITE_BUSY = ("unable to open database file", "database is locked")


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, OSError | TimeoutError):
        return True
    module = type(exc).__module__.split(".")[0]
    if module == "asyncpg":
        asyncpg = importlib.import_module("asyncpg")
        lost = (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.exceptions.OperatorInterventionError,
            asyncpg.exceptions.CannotConnectNowError,
        )
        return isinstance(exc, lost)
    if module in {"pymysql", "asyncmy"}:
        code = exc.args[0] if exc.args else None
        return code in _MYSQL_LOST or type(exc).__name__ == "InterfaceError"
    if module == "sqlite3":
        return any(message in str(exc) for message in _SQLITE_BUSY)
    return False


@contextmanager
def _outages() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if _is_outage(exc):
            raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}") from exc
        raise


# DATABASE_URL checks, run before the app starts.


def url_problem(url: str) -> str | None:
    """One sentence saying what is wrong with DATABASE_URL and what to write instead, or None."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return f"DATABASE_URL {url!r} is not a URL; write e.g. sqlite+aiosqlite:///./app.db."
    scheme = parsed.drivername.split("+")[0]
    backend = SCHEME_ALIASES.get(scheme, scheme)
    if backend not in DRIVERS:
        choices = ", ".join(f"{name}+{drivers[0]}://" for name, drivers in DRIVERS.items())
        return f"DATABASE_URL uses {scheme!r}, which this app does not support; use {choices}."
    driver = parsed.drivername.partition("+")[2]
    if driver not in DRIVERS[backend] or scheme != backend:
        suggestion = parsed.set(drivername=f"{backend}+{DRIVERS[backend][0]}")
        return (
            f"DATABASE_URL {parsed.render_as_string()!r} does not name an async driver; "
            f"write {suggestion.render_as_string()!r} instead."
        )
    if importlib.util.find_spec(driver) is None:
        return (
            f"DATABASE_URL needs the {driver} driver, which is not installed; "
            f"add it to the dependencies in pyproject.toml and run scripts/install."
        )
    return None


# Test databases: created from a migrated template, one per test, and dropped afterwards.

_SAFE_NAME = re.compile(r"[A-Za-z0-9_]+")


def url_for_tests(url: str, suffix: str = "") -> str:
    """The URL of the test database for `url`: same server, the name prefixed with `test_`."""
    parsed = make_url(url)
    name = parsed.database or ""
    if parsed.get_backend_name() == "sqlite":
        path = Path(name)
        renamed = str(path.with_name(f"test_{path.stem}{suffix}{path.suffix}"))
    else:
        renamed = f"test_{name}{suffix}"
    return _render(parsed.set(database=renamed))


async def create_database(url: str, template: str | None = None) -> None:
    """Create the database at `url`, empty or as a copy of `template`; refuse if it exists."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _create_sqlite_file(parsed, template)
        return
    name = _safe_name(parsed)
    source = _safe_name(make_url(template)) if template else None
    async with _server(parsed) as server:
        exists = await server.fetch_val(_EXISTS[backend], {"name": name})
        if exists:
            raise FileExistsError(f"database {name} already exists; refusing to touch it")
        if backend == "postgresql":
            copy = f' TEMPLATE "{source}"' if source else ""
            await server.execute(f'CREATE DATABASE "{name}"{copy}')
        else:
            await server.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            if source:
                await _copy_mysql_tables(server, source, name)


async def drop_database(url: str) -> None:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _sqlite_path(parsed).unlink(missing_ok=True)
        return
    name = _safe_name(parsed)
    async with _server(parsed) as server:
        if backend == "postgresql":
            await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            await server.execute(f"DROP DATABASE IF EXISTS `{name}`")


_EXISTS = {
    "postgresql": "SELECT 1 FROM pg_database WHERE datname = :name",
    "mysql": "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name",
}


@asynccontextmanager
async def _server(url: URL) -> AsyncIterator[databases.Database]:
    """A connection to the server's maintenance database, for CREATE and DROP DATABASE."""
    maintenance = "postgres" if url.get_backend_name() == "postgresql" else "mysql"
    async with databases.Database(_render(url.set(database=maintenance))) as server:
        yield server


async def _copy_mysql_tables(server: databases.Database, source: str, target: str) -> None:
    # MySQL has no CREATE DATABASE ... TEMPLATE: replay each table's DDL, then copy its rows.
    tables = await server.fetch_all(
        "SELECT table_name AS name FROM information_schema.tables "
        "WHERE table_schema = :schema AND table_type = 'BASE TABLE'",
        {"schema": source},
    )
    async with server.connection() as connection:
        await connection.execute(f"USE `{target}`")
        await connection.execute("SET FOREIGN_KEY_CHECKS = 0")
        for table in tables:
            name = table["name"]
            ddl = await connection.fetch_one(f"SHOW CREATE TABLE `{source}`.`{name}`")
            assert ddl is not None  # noqa: S101 - the table was listed just above
            await connection.execute(ddl[1])
            copy = f"INSERT INTO `{name}` SELECT * FROM `{source}`.`{name}`"  # noqa: S608 - names from the server's catalog
            await connection.execute(copy)
        await connection.execute("SET FOREIGN_KEY_CHECKS = 1")


def _safe_name(url: URL) -> str:
    name = url.database or ""
    if not _SAFE_NAME.fullmatch(name):
        raise ValueError(f"test database name {name!r} must be letters, digits and underscores")
    return name


def _sqlite_path(url: URL) -> Path:
    return Path(url.database or "")


def _create_sqlite_file(url: URL, template: str | None) -> None:
    path = _sqlite_path(url)
    if path.exists():
        raise FileExistsError(f"{path} already exists; refusing to touch it")
    if template is None:
        path.touch()
    else:
        shutil.copyfile(_sqlite_path(make_url(template)), path)


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)
