"""The baseline for the database routes: the same response, read with the raw driver.

One long-lived aiosqlite connection for SQLite, an asyncpg pool for PostgreSQL; the response
is built by the rendered project's own `Note` model, so only the database path differs.
Run from the rendered project's folder: BENCH_PACKAGE names its package.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Note: Any = importlib.import_module(f"{os.environ['BENCH_PACKAGE']}.schemas").Note
URL = make_url(os.environ["DATABASE_URL"])
COLUMNS = "id, title, body, created_at, updated_at"


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    if URL.get_backend_name() == "sqlite":
        import aiosqlite

        async with aiosqlite.connect(URL.database or "") as connection:
            connection.row_factory = aiosqlite.Row

            async def fetch(note_id: int) -> Any:
                query = f"SELECT {COLUMNS} FROM notes WHERE id = ?"  # noqa: S608 - constant
                async with connection.execute(query, (note_id,)) as cursor:
                    return await cursor.fetchone()

            yield {"fetch": fetch}
    else:
        import asyncpg

        pool = await asyncpg.create_pool(
            host=URL.host, port=URL.port, user=URL.username, database=URL.database,
            password=URL.password, min_size=10, max_size=10,
        )

        async def fetch(note_id: int) -> Any:
            return await pool.fetchrow(f"SELECT {COLUMNS} FROM notes WHERE id = $1", note_id)  # noqa: S608

        yield {"fetch": fetch}
        await pool.close()


async def read_note(request: Request) -> Response:
    row = await request.state.fetch(request.path_params["id"])
    if row is None:
        return Response(status_code=404)
    note = Note.model_validate(dict(row))
    return Response(note.model_dump_json(), media_type="application/json")


app = Starlette(routes=[Route("/api/notes/{id:int}", read_note)], lifespan=lifespan)
