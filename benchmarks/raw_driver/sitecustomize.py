"""The baseline for the note route: the rendered app itself, reading the note with the raw driver.

Put on PYTHONPATH of the rendered project's own `scripts/start`, this replaces the one query
function `notes.get_note` before the server loads the app. Routing, middleware, validation and
JSON stay the project's, so the ratio measures the database path alone. The raw path is
aiosqlite on one long-lived connection, or an asyncpg pool of DATABASE_POOL_MAX connections,
to the app's own DATABASE_URL.
BENCH_PACKAGE names the package.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import make_url

PACKAGE = os.environ["BENCH_PACKAGE"]
notes: Any = importlib.import_module(f"{PACKAGE}.notes.api")
COLUMNS = "id, title, body, created_at, updated_at"
Fetch = Callable[[int], Awaitable[Any]]
_fetch: Fetch | None = None
_opening = asyncio.Lock()


async def _open() -> Fetch:
    settings = importlib.import_module(f"{PACKAGE}.core.settings").load()
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        import aiosqlite

        connection = await aiosqlite.connect(url.database or "")
        connection.row_factory = aiosqlite.Row

        async def fetch_sqlite(note_id: int) -> Any:
            query = f"SELECT {COLUMNS} FROM notes WHERE id = ?"  # noqa: S608 - constant
            rows = await connection.execute_fetchall(query, (note_id,))  # one trip to its thread
            if not rows:
                return None
            # SQLite stores CURRENT_TIMESTAMP as text; the app's rows carry datetimes.
            note = dict(rows[0])
            for column in ("created_at", "updated_at"):
                note[column] = datetime.fromisoformat(note[column])
            return note

        return fetch_sqlite

    import asyncpg

    size = settings.database_pool_max
    pool = await asyncpg.create_pool(
        host=url.host, port=url.port, user=url.username, password=url.password,
        database=url.database, min_size=size, max_size=size,
    )

    async def fetch_asyncpg(note_id: int) -> Any:
        return await pool.fetchrow(f"SELECT {COLUMNS} FROM notes WHERE id = $1", note_id)  # noqa: S608

    return fetch_asyncpg


async def get_note(db: object, note_id: int, caller: object = None) -> Any:
    # `caller` is empty in the benchmarked project, which has no user accounts.
    global _fetch
    if _fetch is None:
        async with _opening:
            if _fetch is None:
                _fetch = await _open()
    row = await _fetch(note_id)
    return None if row is None else dict(row)  # a row as the app's own query returns it


notes.get_note = get_note
