"""Alembic runs this for every command: it migrates the app's database to `tables.metadata`.

The URL is the app's own async `DATABASE_URL` (tests pass theirs in `config.attributes`).
"""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from {{ cookiecutter.package_name }}.database import url_problem
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.tables import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)


def database_url() -> str:
    url: str = config.attributes.get("database_url") or Settings.from_environ().database_url
    problem = url_problem(url)
    if problem:
        raise SystemExit(f"Configuration error: {problem}")
    return url


def configure(connection: Connection | None = None) -> None:
    dialect = connection.dialect.name if connection is not None else None
    context.configure(
        connection=connection,
        url=None if connection is not None else database_url(),
        target_metadata=metadata,
        compare_server_default=True,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=dialect == "sqlite",
        literal_binds=connection is None,
    )


def migrate(connection: Connection) -> None:
    configure(connection)
    with context.begin_transaction():
        context.run_migrations()


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
    asyncio.run(migrate_online())
