from __future__ import annotations

import asyncio
import contextvars
import importlib.util
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from {{ cookiecutter.package_name }}.core.database import Database
from {{ cookiecutter.package_name }}.core.settings import url_problem
from {{ cookiecutter.package_name }}.notes.table import notes

pytestmark = pytest.mark.anyio


async def count(db: Database) -> int:
    return int(await db.fetch_val("SELECT COUNT(*) FROM notes"))


async def test_transaction_commits_every_statement(db: Database) -> None:
    async with db.transaction():
        await db.execute(notes.insert().values(title="a", body=""))
        await db.execute(notes.insert().values(title="b", body=""))

    assert await count(db) == 2


async def test_failure_mid_transaction_leaves_nothing_behind(db: Database) -> None:
    with pytest.raises(Exception, match="title"):
        async with db.transaction():
            await db.execute(notes.insert().values(title="first", body=""))
            await db.execute(notes.insert().values(title=None, body=""))  # NOT NULL fails

    assert await count(db) == 0


async def test_exception_mid_transaction_rolls_back(db: Database) -> None:
    with pytest.raises(LookupError):
        async with db.transaction():
            await db.execute(notes.insert().values(title="first", body=""))
            raise LookupError("the code gave up half-way")

    assert await count(db) == 0


async def test_rows_come_back_as_dicts_from_core_and_raw_sql(db: Database) -> None:
    note_id = await db.execute(notes.insert().values(title="t", body="b"))

    core = await db.fetch_one(notes.select().where(notes.c.id == note_id))
    raw = await db.fetch_one("SELECT id, title FROM notes WHERE id = :id", {"id": note_id})

    assert core is not None and core["title"] == "t" and core["body"] == "b"
    assert raw == {"id": note_id, "title": "t"}


async def test_statements_of_one_shape_answer_with_their_own_values(db: Database) -> None:
    # The compiled SQL is cached per shape; the values must still be each call's own.
    ids = [await db.execute(notes.insert().values(title=f"n{n}", body="")) for n in range(3)]

    core = [await db.fetch_one(notes.select().where(notes.c.id == note_id)) for note_id in ids]
    raw = [await db.fetch_val("SELECT title FROM notes WHERE id = :id", {"id": i}) for i in ids]

    assert [row["title"] for row in core if row] == ["n0", "n1", "n2"]
    assert raw == ["n0", "n1", "n2"]


async def test_values_come_back_as_their_column_types(db: Database) -> None:
    note_id = await db.execute(notes.insert().values(title="typed", body=""))

    row = await db.fetch_one(notes.select().where(notes.c.id == note_id))
    created = await db.fetch_val(select(notes.c.created_at).where(notes.c.id == note_id))

    assert row is not None and isinstance(row["created_at"], datetime)
    assert isinstance(created, datetime) and isinstance(row["id"], int)


async def test_insert_returns_the_row_as_stored(db: Database) -> None:
    row = await db.insert(notes.insert().values(title="kept", body="as sent"))

    assert row == await db.fetch_one(select(notes).where(notes.c.id == row["id"]))
    assert row["title"] == "kept"
    assert isinstance(row["created_at"], datetime)  # the server's default, read back


async def test_insert_is_one_statement_where_the_server_has_returning(db: Database) -> None:
    mysql = db.url.startswith("mysql")
    server = str(await db.fetch_val("SELECT VERSION()")) if mysql else ""
    # MySQL has no INSERT ... RETURNING; MariaDB has it since 10.5 (older ones fail here).
    assert db._returning is (not mysql or "MariaDB" in server)


async def test_reads_and_writes_go_on_beside_an_open_transaction(db: Database) -> None:
    def elsewhere(work: Coroutine[Any, Any, int]) -> asyncio.Task[int]:
        # Another request's task: it does not inherit this one's transaction.
        return asyncio.get_running_loop().create_task(work, context=contextvars.Context())

    async def write() -> int:
        return int(await db.execute(notes.insert().values(title="outside", body="")))

    async with db.transaction():
        await db.execute(notes.insert().values(title="inside", body=""))
        written = elsewhere(write())  # on SQLite it waits for this transaction to end
        # A read meanwhile is answered, and sees committed rows only.
        assert await asyncio.wait_for(elsewhere(count(db)), 5) in {0, 1}

    assert await asyncio.wait_for(written, 5) > 0
    assert await count(db) == 2


async def test_concurrent_single_writes_and_transactions_all_land(db: Database) -> None:
    async def single(n: int) -> None:
        await db.execute(notes.insert().values(title=f"single {n}", body=""))

    async def pair(n: int) -> None:
        async with db.transaction():
            await db.execute(notes.insert().values(title=f"first {n}", body=""))
            await db.execute(notes.insert().values(title=f"second {n}", body=""))

    await asyncio.gather(*(single(n) for n in range(20)), *(pair(n) for n in range(5)))

    assert await count(db) == 30


async def test_in_lists_and_reads_inside_a_transaction(db: Database) -> None:
    ids = [await db.execute(notes.insert().values(title=f"n{n}", body="")) for n in range(4)]

    chosen = await db.fetch_all(notes.select().where(notes.c.id.in_(ids[1:3])).order_by("id"))
    async with db.transaction():
        new_id = await db.execute(notes.insert().values(title="uncommitted", body=""))
        inside = await db.fetch_one(notes.select().where(notes.c.id == new_id))

    assert [row["title"] for row in chosen] == ["n1", "n2"]
    assert inside is not None and inside["title"] == "uncommitted"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("no scheme at all", "is not a URL"),
        ("oracle://scott@db/orcl", "'oracle', which this app does not support"),
        ("sqlite:///app.db", "write 'sqlite+aiosqlite:///app.db' instead"),
        ("postgresql://u:pw@db/app", "write 'postgresql+asyncpg://u:***@db/app' instead"),
        ("postgres://u@db/app", "write 'postgresql+asyncpg://u@db/app' instead"),
        ("postgresql+psycopg2://u@db/app", "write 'postgresql+asyncpg://u@db/app' instead"),
        ("mysql+pymysql://root@db/app", "write 'mysql+aiomysql://root@db/app' instead"),
        ("mariadb://root@db/app", "write 'mysql+aiomysql://root@db/app' instead"),
    ],
)
async def test_unusable_database_url_is_explained(url: str, says: str) -> None:
    problem = url_problem(url)

    assert problem is not None
    assert says in problem
    assert "pw" not in problem


async def test_missing_driver_is_explained() -> None:
    if importlib.util.find_spec("asyncmy") is not None:
        pytest.skip("asyncmy is installed here, so it cannot be missing")

    problem = url_problem("mysql+asyncmy://root@db/app")

    assert problem is not None and "needs the asyncmy driver" in problem


async def test_usable_database_url_passes(database_url: str) -> None:
    assert url_problem(database_url) is None
