"""`scripts/createdb`: create the database DATABASE_URL names, for development.

Production databases are provisioned on purpose; the app and `scripts/migrate` never create one.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from ..core.database import Database, DatabaseUnavailable
from ..core.settings import SettingsError, load

SAFE_NAME = re.compile(r"[A-Za-z0-9_]+")  # nothing to quote in CREATE DATABASE
EXISTS = {
    "postgresql": "SELECT 1 FROM pg_database WHERE datname = :name",
    "mysql": "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name",
}
# The server's own database, to create (or drop) another from.
MAINTENANCE = {"postgresql": "postgres", "mysql": "mysql"}


async def create(url: str) -> bool:
    """Create the database `url` names; False when it is there already."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return create_file(Path(parsed.database or ""))
    name = safe_name(parsed)
    async with server(parsed) as maintenance:
        if await maintenance.fetch_val(EXISTS[backend], {"name": name}):
            return False
        charset = " CHARACTER SET utf8mb4" if backend == "mysql" else ""
        await maintenance.execute(f"CREATE DATABASE {quoted(backend, name)}{charset}")
        return True


@asynccontextmanager
async def server(url: URL) -> AsyncIterator[Database]:
    """A connection to the server's maintenance database, for CREATE and DROP DATABASE."""
    maintenance = url.set(database=MAINTENANCE[url.get_backend_name()])
    database = Database(maintenance.render_as_string(hide_password=False), min_size=1, max_size=1)
    await database.connect()
    try:
        yield database
    finally:
        await database.disconnect()


def create_file(path: Path) -> bool:
    if path.exists():
        return False
    path.touch()
    return True


def safe_name(url: URL) -> str:
    name = url.database or ""
    if not SAFE_NAME.fullmatch(name):
        raise ValueError(f"name {name!r} needs quoting; create it with your database's own tools")
    return name


def quoted(backend: str, name: str) -> str:
    return f"`{name}`" if backend == "mysql" else f'"{name}"'


def main() -> int:
    try:
        url = load().database_url
    except SettingsError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 1
    name = make_url(url).database
    try:
        created = asyncio.run(create(url))
    except (DatabaseUnavailable, ValueError) as exc:
        print(f"Cannot create the database {name!r}: {exc}", file=sys.stderr)
        return 1
    if not created:
        print(f"The database {name!r} already exists; nothing to do.")
        return 0
    print(f"Created the database {name!r}. Next: scripts/migrate upgrade head")
    return 0


if __name__ == "__main__":
    sys.exit(main())
