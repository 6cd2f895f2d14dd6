"""Test databases: named from DATABASE_URL, created, emptied between tests, dropped.

The suite's fixtures (conftest.py) and the template's own tests use these; the app never does.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from {{ cookiecutter.package_name }}.core.database import Database, Query
from {{ cookiecutter.package_name }}.ops import createdb
from {{ cookiecutter.package_name }}.ops.createdb import quoted, safe_name, server


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
    if not await createdb.create(url):
        raise FileExistsError(f"{make_url(url).database} already exists; refusing to touch it")


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
    names = [quoted(backend, table.name) for table in tables]
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
    name = safe_name(parsed)
    async with server(parsed) as maintenance:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        await maintenance.execute(f"DROP DATABASE IF EXISTS {quoted(backend, name)}{force}")


def _sqlite_path(url: URL) -> Path:
    return Path(url.database or "")


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def checked_out(database: Database) -> int:
    """How many connections the database's pool has lent and not had back."""
    pool = database._database._backend._pool
    if make_url(database.url).get_backend_name() == "mysql":
        return int(pool.size - pool.freesize)  # aiomysql
    return int(pool.get_size() - pool.get_idle_size())  # asyncpg


def finish_failed_opens() -> None:
    """Wait, while the app's event loop still runs, for aiosqlite's threads of failed opens to
    end: each answers its loop once more as it stops, late on a busy machine, and a loop
    closed by then makes that answer an error in the thread."""
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            thread.join(timeout=5)


def stored(database_url: str, title: str) -> int:
    """The notes titled `title`, counted on the server itself (past any proxy)."""

    async def count() -> int:
        database = Database(database_url)
        await database.connect()
        try:
            found: int = await database.fetch_val(
                "SELECT COUNT(*) FROM notes WHERE title = :title", {"title": title}
            )
        finally:
            await database.disconnect()
        return found

    return asyncio.run(count())


def settled(database_url: str, title: str, seconds: float = 3) -> int:
    """The rows stored once the server has run what a cut connection sent it: a loaded server
    may run the COMMIT after the app has answered."""
    deadline = time.monotonic() + seconds
    while (rows := stored(database_url, title)) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    return rows
