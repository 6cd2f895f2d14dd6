"""Test databases: named from DATABASE_URL, created, emptied between tests, dropped.

The suite's fixtures (conftest.py) and the template's own tests use these; the app never does.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from {{ cookiecutter.package_name }}.database import Database, Query

_SAFE_NAME = re.compile(r"[A-Za-z0-9_]+")
_EXISTS = {
    "postgresql": "SELECT 1 FROM pg_database WHERE datname = :name",
    "mysql": "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name",
}


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


async def create_database(url: str) -> None:
    """Create the empty database at `url`; refuse if it exists."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = _sqlite_path(parsed)
        if path.exists():
            raise FileExistsError(f"{path} already exists; refusing to touch it")
        path.touch()
        return
    name = _safe_name(parsed)
    async with _server(parsed) as server:
        if await server.fetch_val(_EXISTS[backend], {"name": name}):
            raise FileExistsError(f"database {name} already exists; refusing to touch it")
        charset = " CHARACTER SET utf8mb4" if backend == "mysql" else ""
        await server.execute(f"CREATE DATABASE {_quoted(backend, name)}{charset}")


async def empty_tables(url: str, metadata: sa.MetaData) -> None:
    """Delete every row of the tables in `metadata` and restart their ids, as after migrating.

    Far cheaper than a database per test. A test that left a lock behind fails the next one's
    setup within seconds (the `Database` timeout; MySQL's wait for a table lock, set here)
    instead of hanging it.
    """
    database = Database(url, min_size=1, max_size=1)
    await database.connect()
    try:
        async with database.transaction():  # one connection for every statement
            for statement in _emptying(make_url(url).get_backend_name(), metadata):
                await database.execute(statement)
    finally:
        await database.disconnect()


def _emptying(backend: str, metadata: sa.MetaData) -> list[Query]:
    tables = list(reversed(metadata.sorted_tables))  # tables that refer to others first
    names = [_quoted(backend, table.name) for table in tables]
    if backend == "postgresql":
        return [f"TRUNCATE {', '.join(names)} RESTART IDENTITY"]
    if backend == "mysql":  # TRUNCATE is refused on a table others refer to, unless checks are off
        truncate = [f"TRUNCATE TABLE {name}" for name in names]
        checks = ["SET SESSION lock_wait_timeout = 10", "SET FOREIGN_KEY_CHECKS = 0"]
        return [*checks, *truncate, "SET FOREIGN_KEY_CHECKS = 1"]
    deletes: list[Query] = [table.delete() for table in tables]
    # SQLite keeps AUTOINCREMENT counters in a table of its own, made with the first such table.
    if any(table.dialect_options["sqlite"]["autoincrement"] for table in tables):
        deletes.append("DELETE FROM sqlite_sequence")
    return deletes


async def drop_database(url: str) -> None:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _sqlite_path(parsed).unlink(missing_ok=True)
        return
    name = _safe_name(parsed)
    async with _server(parsed) as server:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        await server.execute(f"DROP DATABASE IF EXISTS {_quoted(backend, name)}{force}")


@asynccontextmanager
async def _server(url: URL) -> AsyncIterator[Database]:
    """A connection to the server's maintenance database, for CREATE and DROP DATABASE."""
    maintenance = "postgres" if url.get_backend_name() == "postgresql" else "mysql"
    server = Database(_render(url.set(database=maintenance)), min_size=1, max_size=1)
    await server.connect()
    try:
        yield server
    finally:
        await server.disconnect()


def _safe_name(url: URL) -> str:
    name = url.database or ""
    if not _SAFE_NAME.fullmatch(name):
        raise ValueError(f"test database name {name!r} must be letters, digits and underscores")
    return name


def _sqlite_path(url: URL) -> Path:
    return Path(url.database or "")


def _quoted(backend: str, name: str) -> str:
    return f"`{name}`" if backend == "mysql" else f'"{name}"'


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)
