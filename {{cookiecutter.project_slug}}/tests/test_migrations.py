from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from {{ cookiecutter.package_name }}.core.database import Database

from .conftest import alembic_config, fresh_database_url
from .databases import create_database, drop_database


@pytest.fixture
def empty_database(real_database_url: str) -> Iterator[str]:
    url = fresh_database_url(real_database_url)
    asyncio.run(create_database(url))
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


async def count_notes(url: str) -> int:
    database = Database(url)
    await database.connect()
    try:
        return int(await database.fetch_val("SELECT COUNT(*) FROM notes"))
    finally:
        await database.disconnect()


def test_upgrade_downgrade_upgrade_round_trip(empty_database: str) -> None:
    config = alembic_config(empty_database)

    command.upgrade(config, "head")
    assert asyncio.run(count_notes(empty_database)) == 0
    command.downgrade(config, "base")
    with pytest.raises(Exception, match="notes"):
        asyncio.run(count_notes(empty_database))
    command.upgrade(config, "head")
    assert asyncio.run(count_notes(empty_database)) == 0


def test_migrations_match_the_tables(empty_database: str) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "head")

    command.check(config)  # raises if tables.py and the migrations have drifted apart


def test_history_is_linear(empty_database: str) -> None:
    heads = ScriptDirectory.from_config(alembic_config(empty_database)).get_heads()

    assert len(heads) == 1
