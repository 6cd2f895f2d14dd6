"""Test databases: named from DATABASE_URL, created empty or as a copy of a migrated one, dropped.

The suite's fixtures (conftest.py) and the template's own tests use these; the app never does.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from {{ cookiecutter.package_name }}.database import Database

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
        if await server.fetch_val(_EXISTS[backend], {"name": name}):
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


async def _copy_mysql_tables(server: Database, source: str, target: str) -> None:
    # MySQL has no CREATE DATABASE ... TEMPLATE: replay each table's DDL, then copy its rows.
    # A transaction keeps every statement on one connection, where USE and the checks apply.
    tables = await server.fetch_all(
        "SELECT table_name AS name FROM information_schema.tables "
        "WHERE table_schema = :schema AND table_type = 'BASE TABLE'",
        {"schema": source},
    )
    async with server.transaction():
        await server.execute(f"USE `{target}`")
        await server.execute("SET FOREIGN_KEY_CHECKS = 0")
        for table in tables:
            name = table["name"]
            ddl = await server.fetch_one(f"SHOW CREATE TABLE `{source}`.`{name}`")
            assert ddl is not None  # the table was listed just above
            await server.execute(ddl["Create Table"])
            copy = f"INSERT INTO `{name}` SELECT * FROM `{source}`.`{name}`"  # noqa: S608 - names from the server's catalog
            await server.execute(copy)
        await server.execute("SET FOREIGN_KEY_CHECKS = 1")


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
        shutil.copyfile(make_url(template).database or "", path)


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)
