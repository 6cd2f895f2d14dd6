"""Alembic runs this for every command: it migrates the app's database to `tables.metadata`.

The URL is the app's own async `DATABASE_URL` (tests pass theirs in `config.attributes`).
"""

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from {{ cookiecutter.package_name }}.core.database import is_missing_database, missing_database
from {{ cookiecutter.package_name }}.core.settings import SettingsError, load
from {{ cookiecutter.package_name }}.tables import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)


def database_url() -> str:
    given = config.attributes.get("database_url")
    try:
        return load(**({"database_url": given} if given else {})).database_url
    except SettingsError as exc:
        raise SystemExit(f"Configuration error: {exc}") from None


def render_item(kind: str, item: Any, autogen: AutogenContext) -> str | Literal[False]:
    # Autogenerate compiles a default for the database at hand: sa.false() becomes '0' on
    # SQLite, which PostgreSQL refuses. The construct itself runs on every backend.
    if kind == "server_default" and isinstance(item, sa.DefaultClause):
        if isinstance(item.arg, sa.sql.elements.True_):
            return "sa.true()"
        if isinstance(item.arg, sa.sql.elements.False_):
            return "sa.false()"
    return False


BOOLEANS = {"0": False, "false": False, "1": True, "true": True}


def boolean_default_changed(
    context: Any, inspected: Any, column: sa.Column[Any], found: str | None, *_: Any
) -> bool | None:
    # SQLite and MySQL store sa.false() as 0: the same default, not a change to migrate.
    default = column.server_default
    if found is None or not isinstance(default, sa.DefaultClause):
        return None  # Alembic's own comparison
    if not isinstance(default.arg, sa.sql.elements.False_ | sa.sql.elements.True_):
        return None
    wanted = isinstance(default.arg, sa.sql.elements.True_)
    return BOOLEANS.get(found.strip("'\"").lower()) is not wanted


def keep_autoincrement(inspector: sa.Inspector, table: sa.Table, column: Any) -> None:
    # A batch migration on SQLite copies the table as reflected, and reflection misses
    # AUTOINCREMENT: the copy would hand out the ids of deleted rows again.
    bind = inspector.bind  # the migration's connection
    if not isinstance(bind, Connection) or bind.dialect.name != "sqlite":
        return
    if table.dialect_options["sqlite"]["autoincrement"]:
        return  # found already, for an earlier column
    found = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,)
    ).scalar()
    if found is not None and "AUTOINCREMENT" in found.upper():
        table.dialect_kwargs["sqlite_autoincrement"] = True


def configure(connection: Connection | None = None) -> None:
    dialect = connection.dialect.name if connection is not None else None
    context.configure(
        connection=connection,
        url=None if connection is not None else database_url(),
        target_metadata=metadata,
        compare_server_default=boolean_default_changed,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=dialect == "sqlite",
        literal_binds=connection is None,
        render_item=render_item,
    )


def migrate(connection: Connection) -> None:
    configure(connection)
    # Only while migrating: tests run this file many times in one process.
    sa.event.listen(sa.Table, "column_reflect", keep_autoincrement)
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        sa.event.remove(sa.Table, "column_reflect", keep_autoincrement)


async def migrate_online() -> None:
    engine = create_async_engine(database_url(), poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(migrate)
    await engine.dispose()


if context.is_offline_mode():
    configure()
    with context.begin_transaction():
        context.run_migrations()
else:
    try:
        asyncio.run(migrate_online())
    except Exception as exc:
        if not is_missing_database(exc):
            raise
        sentence = missing_database(database_url())
        raise SystemExit(f"{sentence[0].upper()}{sentence[1:]}, then run this again.") from None
