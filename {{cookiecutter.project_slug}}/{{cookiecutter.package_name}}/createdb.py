"""`scripts/createdb`: create the database DATABASE_URL names, for development.

Production databases are provisioned on purpose; the app and `scripts/migrate` never create one.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from .database import Database, DatabaseUnavailable
from .settings import SettingsError, load

SAFE_NAME = re.compile(r"[A-Za-z0-9_]+")  # nothing to quote in CREATE DATABASE
EXISTS = {
    "postgresql": "SELECT 1 FROM pg_database WHERE datname = :name",
    "mysql": "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name",
}
CREATE = {
    "postgresql": 'CREATE DATABASE "{name}"',
    "mysql": "CREATE DATABASE `{name}` CHARACTER SET utf8mb4",
}


async def create(url: str) -> bool:
    """Create the database `url` names; False when it is there already."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    name = parsed.database or ""
    if backend == "sqlite":
        return create_file(Path(name))
    if not SAFE_NAME.fullmatch(name):
        raise ValueError(f"name {name!r} needs quoting; create it with your database's own tools")
    # The server's own database, to create the new one from.
    maintenance = parsed.set(database="postgres" if backend == "postgresql" else "mysql")
    server = Database(maintenance.render_as_string(hide_password=False), min_size=1, max_size=1)
    try:
        if await server.fetch_val(EXISTS[backend], {"name": name}):
            return False
        await server.execute(CREATE[backend].format(name=name))
        return True
    finally:
        await server.disconnect()


def create_file(path: Path) -> bool:
    if path.exists():
        return False
    path.touch()
    return True


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
