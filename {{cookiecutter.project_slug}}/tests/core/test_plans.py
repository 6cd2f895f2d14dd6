from __future__ import annotations

import sqlite3
import threading
from importlib.metadata import version
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from {{ cookiecutter.package_name }}.core.database import Database
from {{ cookiecutter.package_name }}.core.plans import MAX_PLANS, PRIVATE
from {{ cookiecutter.package_name }}.notes.table import notes

pytestmark = pytest.mark.anyio

BY_ID = notes.select().where(notes.c.id == sa.bindparam("id"))


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


async def test_every_private_attribute_relied_on_is_still_there(db: Database) -> None:
    backend = db._database._backend
    compiled = sa.select(notes).compile(dialect=backend._dialect)
    owners: dict[str, Any] = {
        "Database": db._database,
        "DatabaseBackend": backend,
        "Connection": db._database.connection(),
        "SQLCompiler": compiled,
        "TypeEngine": sa.Integer(),
    }
    backend_name = make_url(db.url).get_backend_name()
    if backend_name == "sqlite":  # the SQLite pool is only replaced on SQLite
        owners |= {"SQLiteBackend": backend, "SQLitePool": backend._pool._opener}
    owners |= {"PostgresBackend": backend, "MySQLBackend": backend}
    prefixes = {"sqlite": "SQLite", "postgresql": "Postgres", "mysql": "MySQL"}

    checked = 0
    for package, attributes in PRIVATE.items():
        for owner, _, attribute in (entry.partition(".") for entry in attributes):
            other = {prefix for name, prefix in prefixes.items() if name != backend_name}
            if owner.startswith(tuple(other)):
                continue
            assert owner in owners, f"add a real {owner} to this test to check {attribute}"
            assert hasattr(owners[owner], attribute), (
                f"{package} {version(package)} has no {owner}.{attribute}, which plans.py "
                "relies on: adapt plans.py to this release, or pin the release it works with."
            )
            checked += 1
    assert checked >= 5


async def test_a_statement_written_once_is_compiled_once(db: Database) -> None:
    first = await db.execute(notes.insert().values(title="one", body=""))
    second = await db.execute(notes.insert().values(title="two", body=""))

    plan = db._plans.get(BY_ID)
    rows = [await db.fetch_one(BY_ID, {"id": note_id}) for note_id in (first, second)]

    assert db._plans.get(BY_ID) is plan
    assert [row["title"] for row in rows if row] == ["one", "two"]


async def test_statements_built_per_call_do_not_fill_memory(db: Database) -> None:
    note_id = await db.execute(notes.insert().values(title="t", body=""))

    for _ in range(MAX_PLANS + 50):
        await db.fetch_val(sa.select(notes.c.title).where(notes.c.id == note_id))

    assert len(db._plans._plans) <= MAX_PLANS


def aiosqlite_threads() -> set[threading.Thread]:
    threads = threading.enumerate()
    return {thread for thread in threads if "_connection_worker_thread" in thread.name}


async def test_disconnect_releases_every_sqlite_connection(tmp_path: Any) -> None:
    pytest.importorskip("aiosqlite", reason="SQLite only: this project uses another database")
    url = f"sqlite+aiosqlite:///{tmp_path / 'released.db'}?cache=shared"
    before = aiosqlite_threads()  # earlier tests' threads may still be on their way out
    db = Database(url)
    inner = db._database._backend._pool._opener
    memref: sqlite3.Connection = inner._memref
    await db.connect()
    async with db.transaction():
        await db.execute("CREATE TABLE t (x INTEGER)")
    assert await db.fetch_val("SELECT COUNT(*) FROM t") == 0

    await db.disconnect()

    assert inner._memref is None
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        memref.execute("SELECT 1")
    for thread in aiosqlite_threads() - before:
        thread.join(timeout=5)
    assert aiosqlite_threads() - before == set()
