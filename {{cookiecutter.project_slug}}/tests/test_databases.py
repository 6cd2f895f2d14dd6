"""The test databases themselves: each test starts on tables as the migrations left them."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.core.database import Database
from {{ cookiecutter.package_name }}.notes.table import notes
from {{ cookiecutter.package_name }}.tables import metadata

from .databases import empty_tables

pytestmark = pytest.mark.anyio


async def test_emptying_removes_every_row_and_restarts_the_ids(
    db: Database, database_url: str
) -> None:
    for title in ("first", "second"):
        await db.insert(notes.insert().values(title=title, body=""))

    await empty_tables(database_url, metadata)

    for table in metadata.sorted_tables:
        assert await db.fetch_val(f"SELECT COUNT(*) FROM {table.name}") == 0, table.name  # noqa: S608
    again = await db.insert(notes.insert().values(title="again", body=""))
    assert again["id"] == 1
