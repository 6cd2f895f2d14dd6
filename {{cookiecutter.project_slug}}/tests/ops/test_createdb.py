from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from {{ cookiecutter.package_name }}.core.database import Database
from {{ cookiecutter.package_name }}.ops import createdb

from ..conftest import fresh_database_url
from ..databases import drop_database


@pytest.fixture
def new_database_url(real_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = fresh_database_url(real_database_url)
    monkeypatch.setenv("DATABASE_URL", url)
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


async def answers(url: str) -> bool:
    database = Database(url)
    try:
        await database.ping()
        return True
    finally:
        await database.disconnect()


def test_creates_the_database_once(
    new_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = make_url(new_database_url).database

    assert createdb.main() == 0
    assert asyncio.run(answers(new_database_url))
    assert createdb.main() == 0

    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith(f"Created the database {name!r}.")
    assert second == f"The database {name!r} already exists; nothing to do."


def test_a_bad_setting_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "nosuch://x")

    assert createdb.main() == 1
    assert capsys.readouterr().err.startswith("Configuration error: DATABASE_URL uses 'nosuch'")
