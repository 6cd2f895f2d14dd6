"""The limit: the benchmarked routes written directly on the driver, on a plain Starlette router.

aiosqlite on one long-lived connection in WAL mode, or an asyncpg pool of DATABASE_POOL_MAX
connections, to DATABASE_URL (the rendered project's database); JSON by orjson. Each handler
keeps the project's semantics (the list fetches one row more than asked and counts only with
`total=true`; a create inserts and reads the row back in one `INSERT ... RETURNING`) and does
the work essential to its route: a create also publishes its event, with a new id, to this
process's subscribers (none while measured, as in the project), because the live page must
hear of every note. None of the project's layers: no settings, Host check, pydantic models,
error handlers, broadcast backend or `Idempotency-Key` (the benchmark sends none, and without
one the project only looks for the header). Served by `routes.py`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import uuid4

import orjson
from sqlalchemy.engine import make_url
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

COLUMNS = ("id", "title", "body", "created_at", "updated_at")
NOTE = "id, title, body, created_at, updated_at"
MAX_ID = 2**31 - 1


class Notes(Protocol):
    async def one(self, note_id: int) -> dict[str, Any] | None: ...
    async def page(self, limit: int, offset: int) -> list[dict[str, Any]]: ...
    async def count(self) -> int: ...
    async def create(self, title: str, body: str) -> dict[str, Any]: ...
    async def close(self) -> None: ...


class SQLiteNotes:
    """One connection, autocommit: every statement is its own transaction, run on its thread."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @classmethod
    async def open(cls, path: str) -> SQLiteNotes:
        import aiosqlite

        connection = await aiosqlite.connect(path, isolation_level=None, timeout=10)
        await connection.execute("PRAGMA journal_mode = WAL")
        await connection.execute("PRAGMA synchronous = NORMAL")
        return cls(connection)

    @staticmethod
    def note(row: Any) -> dict[str, Any]:
        # SQLite stores CURRENT_TIMESTAMP as UTC text.
        note = dict(zip(COLUMNS, row, strict=True))
        note["created_at"] = datetime.fromisoformat(row[3]).replace(tzinfo=UTC)
        note["updated_at"] = datetime.fromisoformat(row[4]).replace(tzinfo=UTC)
        return note

    async def one(self, note_id: int) -> dict[str, Any] | None:
        rows = await self.connection.execute_fetchall(
            f"SELECT {NOTE} FROM notes WHERE id = ?", (note_id,)  # noqa: S608 - constant
        )
        return self.note(rows[0]) if rows else None

    async def page(self, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = await self.connection.execute_fetchall(
            f"SELECT {NOTE} FROM notes ORDER BY id LIMIT ? OFFSET ?", (limit, offset)  # noqa: S608
        )
        return [self.note(row) for row in rows]

    async def count(self) -> int:
        rows = await self.connection.execute_fetchall("SELECT count(*) FROM notes")
        return int(rows[0][0])

    async def create(self, title: str, body: str) -> dict[str, Any]:
        rows = await self.connection.execute_fetchall(
            f"INSERT INTO notes (title, body) VALUES (?, ?) RETURNING {NOTE}",  # noqa: S608
            (title, body),
        )
        return self.note(rows[0])

    async def close(self) -> None:
        await self.connection.close()


class PostgresNotes:
    """An asyncpg pool; timestamps arrive as aware datetimes."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: Any, size: int) -> PostgresNotes:
        import asyncpg

        pool = await asyncpg.create_pool(
            host=url.host, port=url.port, user=url.username, password=url.password,
            database=url.database, min_size=size, max_size=size,
        )
        return cls(pool)

    async def one(self, note_id: int) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(f"SELECT {NOTE} FROM notes WHERE id = $1", note_id)  # noqa: S608
        return None if row is None else dict(row)

    async def page(self, limit: int, offset: int) -> list[dict[str, Any]]:
        query = f"SELECT {NOTE} FROM notes ORDER BY id LIMIT $1 OFFSET $2"  # noqa: S608
        return [dict(row) for row in await self.pool.fetch(query, limit, offset)]

    async def count(self) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM notes"))

    async def create(self, title: str, body: str) -> dict[str, Any]:
        query = f"INSERT INTO notes (title, body) VALUES ($1, $2) RETURNING {NOTE}"  # noqa: S608
        return dict(await self.pool.fetchrow(query, title, body))

    async def close(self) -> None:
        await self.pool.close()


def json(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps(content, option=orjson.OPT_UTC_Z)
    return Response(body, status_code, headers, media_type="application/json")


def problem(status: int, detail: str) -> Response:
    return json({"status": status, "detail": detail}, status)


async def live(request: Request) -> Response:
    return json({"status": "ok"})


async def read_note(request: Request) -> Response:
    note_id: int = request.path_params["id"]
    note = await request.state.notes.one(note_id) if 1 <= note_id <= MAX_ID else None
    return problem(404, f"There is no note with id {note_id}.") if note is None else json(note)


async def list_notes(request: Request) -> Response:
    query = request.query_params
    try:
        limit, offset = int(query.get("limit", 20)), int(query.get("offset", 0))
    except ValueError:
        return problem(422, "limit and offset must be integers.")
    if not (1 <= limit <= 100 and 0 <= offset <= MAX_ID):
        return problem(422, "limit must be 1 to 100 and offset 0 or more.")
    notes: Notes = request.state.notes
    items = await notes.page(limit + 1, offset)
    following = None
    if len(items) > limit:
        following = str(request.url.include_query_params(offset=offset + limit))
    total = await notes.count() if query.get("total") == "true" else None
    page = {"items": items[:limit], "total": total, "limit": limit, "offset": offset}
    return json({**page, "next": following})


async def create_note(request: Request) -> Response:
    try:
        data = orjson.loads(await request.body())
        title, body = data["title"].strip(), data.get("body", "").strip()
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return problem(422, "The body must be a JSON object with a string title.")
    if not 1 <= len(title) <= 200 or len(body) > 10_000 or set(data) - {"title", "body"}:
        return problem(422, "title must have 1 to 200 characters and body at most 10,000.")
    note = await request.state.notes.create(title, body)
    location = str(request.url_for("note", id=note["id"]))
    publish(request.state.subscribers, {"id": uuid4().hex, "type": "note.created", "note": note})
    return json(note, 201, {"Location": location})


def publish(subscribers: set[asyncio.Queue[bytes]], event: dict[str, Any]) -> None:
    message = orjson.dumps(event, option=orjson.OPT_UTC_Z)
    for queue in subscribers:
        queue.put_nowait(message)


@asynccontextmanager
async def lifespan(app: object) -> AsyncIterator[dict[str, Any]]:
    url = make_url(os.environ["DATABASE_URL"])
    if url.get_backend_name() == "sqlite":
        notes: Notes = await SQLiteNotes.open(url.database or "")
    else:
        notes = await PostgresNotes.open(url, int(os.environ.get("DATABASE_POOL_MAX", "10")))
    try:
        yield {"notes": notes, "subscribers": set()}
    finally:
        await notes.close()


app = Router(
    routes=[
        Route("/health/live", live, methods=["GET"], name="health_live"),
        Route("/api/notes", list_notes, methods=["GET"], name="notes"),
        Route("/api/notes", create_note, methods=["POST"], name="create_note"),
        Route("/api/notes/{id:int}", read_note, methods=["GET"], name="note"),
    ],
    lifespan=lifespan,
)
