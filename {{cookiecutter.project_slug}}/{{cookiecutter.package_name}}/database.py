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
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from typing import Any, cast

import databases
from sqlalchemy import text
from sqlalchemy.engine import URL, Compiled, Dialect, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.cache_key import CacheKey
from sqlalchemy.sql.compiler import SQLCompiler
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

    Reads run the statement's cached SQL on the driver connection `databases` hands out, and
    process the rows once (see `_Plan`); writes and transactions go through `databases`.
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
        self._dialect: Dialect = self._database._backend._dialect
        self._fetch = _FETCH[backend]
        self._plans: dict[Any, _Plan] = {}
        self._connecting = asyncio.Lock()
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
        bound = self._bind(query, values)
        if bound is None or not bound[0].columns:  # DDL, IN lists, or SQL naming no columns
            database = await self._connected()
            with _outages():
                records = await database.fetch_all(self._prepare(query, values))
            return [_record(record) for record in records]
        plan, arguments = bound
        return [plan.row(values) for values in await self._read(plan, arguments, one=False)]

    async def fetch_one(self, query: Query, values: Mapping[str, Any] | None = None) -> Row | None:
        bound = self._bind(query, values)
        if bound is None or not bound[0].columns:
            database = await self._connected()
            with _outages():
                record = await database.fetch_one(self._prepare(query, values))
            return None if record is None else _record(record)
        plan, arguments = bound
        rows = await self._read(plan, arguments, one=True)
        return plan.row(rows[0]) if rows else None

    async def fetch_val(self, query: Query, values: Mapping[str, Any] | None = None) -> Any:
        bound = self._bind(query, values)
        if bound is None:
            database = await self._connected()
            with _outages():
                return await database.fetch_val(self._prepare(query, values))
        plan, arguments = bound
        rows = await self._read(plan, arguments, one=True)
        return plan.value(rows[0]) if rows else None

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

    async def _read(self, plan: _Plan, arguments: Any, *, one: bool) -> Sequence[Any]:
        # The connection of this task's transaction, if it holds one; else one from the pool.
        database = await self._connected()
        with _outages():
            async with database.connection() as connection:
                async with connection._query_lock:
                    return await self._fetch(connection.raw_connection, plan.sql, arguments, one)

    def _bind(self, query: Query, values: Mapping[str, Any] | None) -> tuple[_Plan, Any] | None:
        """The cached plan for `query` and the driver's arguments for this call, if it has one."""
        if isinstance(query, str):
            plan = self._plans.get(query) or self._plan(query, text(query))
            extracted = None
        else:
            key = query._generate_cache_key()
            if key is None or isinstance(query, DDLElement):
                return None
            if any(value.expanding for value in key.bindparams):  # IN lists change the SQL
                return None
            plan = self._plans.get(key.key) or self._plan(key.key, query, key)
            extracted = key.bindparams
        return plan, plan.arguments(values, extracted)

    def _plan(self, cache_key: Any, statement: ClauseElement, key: CacheKey | None = None) -> _Plan:
        if len(self._plans) > 1000:  # dynamic SQL should not grow the cache without bound
            self._plans.clear()
        compiled = statement.compile(
            dialect=self._dialect, cache_key=key, compile_kwargs={"render_postcompile": True}
        )
        assert isinstance(compiled, SQLCompiler)  # noqa: S101 - DDL never gets here
        plan = self._plans[cache_key] = _Plan(compiled, self._dialect)
        return plan

    def _prepare(self, query: Query, values: Mapping[str, Any] | None) -> Any:
        """The statement to hand to `databases`, compiling from the plan cache."""
        statement = text(query).bindparams(**values or {}) if isinstance(query, str) else query
        if isinstance(statement, DDLElement):
            return statement
        return _CachedStatement(statement, self)

    async def _connected(self) -> databases.Database:
        if not self._database.is_connected:
            async with self._connecting:
                if not self._database.is_connected:
                    with _outages():
                        await self._database.connect()
        return self._database


class _Plan:
    """A statement compiled once for a dialect: its driver SQL, argument order and row reader.

    SQLAlchemy compiles the statement and supplies each type's bind and result processors, so
    values go in and come out as they would through `databases`, minus its per-query work.
    """

    def __init__(self, compiled: SQLCompiler, dialect: Dialect) -> None:
        self.compiled = compiled
        self.sql = compiled.string
        if dialect.paramstyle == "qmark":  # SQLite: positional, in the order of the SQL
            self.names: list[str] | None = list(compiled.positiontup or ())
        elif dialect.name == "postgresql":  # asyncpg: $1, $2 ... for `databases`' pyformat
            names = compiled.bind_names.values()
            self.names = sorted({compiled.escaped_bind_names.get(name, name) for name in names})
            self.sql = self.sql % {name: f"${n}" for n, name in enumerate(self.names, 1)}
        else:  # MySQL drivers take pyformat with a dict of values
            self.names = None
        # Tuple-valued processors belong to IN lists, which never get a plan.
        self.binds = cast(Mapping[str, Callable[[Any], Any]], compiled._bind_processors)
        self.columns = [column[0] for column in compiled._result_columns]
        self.results = [
            column[3]._cached_result_processor(dialect, None) for column in compiled._result_columns
        ]
        self.processed = any(self.results)

    def arguments(
        self, values: Mapping[str, Any] | None, extracted: Sequence[BindParameter[Any]] | None
    ) -> Any:
        params = self.compiled.construct_params(
            params=dict(values) if values else None, extracted_parameters=extracted
        )
        binds = self.binds
        for name, process in binds.items():
            if name in params:
                params[name] = process(params[name])
        if self.names is None:
            return params
        return [params[name] for name in self.names]

    def row(self, values: Sequence[Any]) -> Row:
        if not self.processed:
            return dict(zip(self.columns, values, strict=True))
        return {
            column: value if process is None else process(value)
            for column, process, value in zip(self.columns, self.results, values, strict=True)
        }

    def value(self, values: Sequence[Any]) -> Any:
        process = self.results[0] if self.results else None
        return values[0] if process is None else process(values[0])


class _Compiled:
    """A cached compiled statement, answering with the values of the statement at hand."""

    def __init__(self, compiled: Compiled, values: Sequence[BindParameter[Any]] | None) -> None:
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

    def __init__(self, statement: ClauseElement, database: Database) -> None:
        self._statement = statement
        self._database = database

    def compile(self, dialect: Dialect, compile_kwargs: dict[str, Any]) -> Any:
        key = self._statement._generate_cache_key()
        if key is None or any(value.expanding for value in key.bindparams):
            return self._statement.compile(dialect=dialect, compile_kwargs=compile_kwargs)
        plans = self._database._plans
        plan = plans.get(key.key) or self._database._plan(key.key, self._statement, key)
        return _Compiled(plan.compiled, key.bindparams)

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


# Reads on the driver connection: `one` asks for the first row only, where the driver can.


async def _sqlite_fetch(connection: Any, sql: str, arguments: Any, one: bool) -> Sequence[Any]:
    # One trip to aiosqlite's thread; a query read with fetch_one here is by key.
    rows: Sequence[Any] = await connection.execute_fetchall(sql, arguments)
    return rows


async def _asyncpg_fetch(connection: Any, sql: str, arguments: Any, one: bool) -> Sequence[Any]:
    if one:
        row = await connection.fetchrow(sql, *arguments)
        return [] if row is None else [row]
    rows: Sequence[Any] = await connection.fetch(sql, *arguments)
    return rows


async def _mysql_fetch(connection: Any, sql: str, arguments: Any, one: bool) -> Sequence[Any]:
    async with connection.cursor() as cursor:
        await cursor.execute(sql, arguments)
        if one:
            row = await cursor.fetchone()
            return [] if row is None else [row]
        rows: Sequence[Any] = await cursor.fetchall()
        return rows


_FETCH = {"sqlite": _sqlite_fetch, "postgresql": _asyncpg_fetch, "mysql": _mysql_fetch}


def _record(record: Any) -> Row:
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
