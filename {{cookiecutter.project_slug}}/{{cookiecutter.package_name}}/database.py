"""The one module that talks to the `databases` package: connections, queries and test databases.

Everything else goes through `Database`, so changing the async driver layer touches only this file.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import databases
from sqlalchemy.engine import URL, make_url
from sqlalchemy.sql import ClauseElement

Query = ClauseElement | str
Row = dict[str, Any]


class Database:
    """A connection pool with the queries the app needs; rows come back as plain mappings."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._database = databases.Database(url)

    async def connect(self) -> None:
        await self._database.connect()

    async def disconnect(self) -> None:
        await self._database.disconnect()

    async def fetch_all(self, query: Query, values: Mapping[str, Any] | None = None) -> list[Row]:
        rows = await self._database.fetch_all(query, dict(values) if values else None)
        return [_row(record) for record in rows]

    async def fetch_one(self, query: Query, values: Mapping[str, Any] | None = None) -> Row | None:
        row = await self._database.fetch_one(query, dict(values) if values else None)
        return None if row is None else _row(row)

    async def fetch_val(self, query: Query, values: Mapping[str, Any] | None = None) -> Any:
        return await self._database.fetch_val(query, dict(values) if values else None)

    async def execute(self, query: Query, values: Mapping[str, Any] | None = None) -> Any:
        """Run a write; for an insert the result is the new row's primary key."""
        return await self._database.execute(query, dict(values) if values else None)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Everything awaited inside commits together, or not at all."""
        async with self._database.transaction():
            yield

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        await self._database.fetch_val("SELECT 1")


# Test databases: created from a migrated template, one per test, and dropped afterwards.


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
    if parsed.get_backend_name() == "sqlite":
        _create_sqlite_file(parsed, template)
        return
    raise NotImplementedError(f"no test database support for {parsed.get_backend_name()}")


async def drop_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _sqlite_path(parsed).unlink(missing_ok=True)
        return
    raise NotImplementedError(f"no test database support for {parsed.get_backend_name()}")


def _row(record: Any) -> Row:
    # Iterating a `databases` record yields its column names; indexing converts the value.
    return {column: record[column] for column in record}


def _sqlite_path(url: URL) -> Path:
    return Path(url.database or "")


def _create_sqlite_file(url: URL, template: str | None) -> None:
    path = _sqlite_path(url)
    if path.exists():
        raise FileExistsError(f"{path} already exists; refusing to overwrite it")
    if template is None:
        path.touch()
    else:
        shutil.copyfile(_sqlite_path(make_url(template)), path)


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)
