"""The notes resource: its queries and its JSON endpoints under /api/notes.

Requests are validated by the models in schemas.py; rows the database returns are written out
as they are (orjson, see responses.py), without validating what the database produced.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
import pydantic
import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from . import idempotency
from .database import Database, Row
from .errors import RequestValidationError
from .events import Events
from .openapi import ApiRoute, Operation
from .responses import JSONResponse, dumps
from .schemas import MAX_ID, Note, NoteIn, NotePage, NotePatch, Page
from .tables import notes

Model = TypeVar("Model", bound=pydantic.BaseModel)


# Queries. Each statement is written once, here, and run with each call's values: SQLAlchemy
# compiles it once (see plans.py) instead of on every request.

# With user accounts (users.py gives each note an owner), every query reads and writes only the
# notes of `:owner_id`, the signed-in user: another user's note is as missing as a deleted one.
OWNED = [notes.c.owner_id == sa.bindparam("owner_id")] if "owner_id" in notes.c else []
OWNER: dict[str, Any] = {"owner_id": sa.bindparam("owner_id")} if "owner_id" in notes.c else {}

# What a note's JSON shows: its owner is for the queries above, not for the reader (who is it).
PUBLIC = [column for column in notes.c if column.name != "owner_id"]

COUNT = sa.select(sa.func.count()).select_from(notes).where(*OWNED)
PAGE = (
    sa.select(*PUBLIC)
    .where(*OWNED)
    .order_by(notes.c.id)
    .limit(sa.bindparam("limit"))
    .offset(sa.bindparam("skip"))
)
BY_ID = sa.select(*PUBLIC).where(notes.c.id == sa.bindparam("id"), *OWNED)
INSERT = notes.insert().values(title=sa.bindparam("title"), body=sa.bindparam("body"), **OWNER)
DELETE = notes.delete().where(notes.c.id == sa.bindparam("id"), *OWNED)
# A field left out of a PATCH is sent as NULL and keeps its value.
UPDATE = (
    notes.update()
    .where(notes.c.id == sa.bindparam("note_id"), *OWNED)
    .values(
        title=sa.func.coalesce(sa.bindparam("title", type_=sa.String), notes.c.title),
        body=sa.func.coalesce(sa.bindparam("body", type_=sa.Text), notes.c.body),
    )
)


# `owner` is `{"owner_id": id}` with user accounts, else empty (see `owner_of`).
Owner = Mapping[str, Any]
EVERYONE: Owner = {}


async def count_notes(db: Database, owner: Owner = EVERYONE) -> int:
    return int(await db.fetch_val(COUNT, {**owner}))


async def list_page(db: Database, limit: int, offset: int, owner: Owner = EVERYONE) -> list[Row]:
    return await db.fetch_all(PAGE, {"limit": limit, "skip": offset, **owner})


async def get_note(db: Database, note_id: int, owner: Owner = EVERYONE) -> Row | None:
    return await db.fetch_one(BY_ID, {"id": note_id, **owner})


async def insert_note(db: Database, data: NoteIn, owner: Owner = EVERYONE) -> Row:
    row = await db.insert(INSERT, {**data.model_dump(), **owner})
    row.pop("owner_id", None)  # as PUBLIC leaves it out
    return row


async def update_note(
    db: Database, note_id: int, data: NotePatch, owner: Owner = EVERYONE
) -> Row | None:
    # The write comes first, so a concurrent writer waits instead of failing (SQLite).
    async with db.transaction():
        changes = {"title": None, "body": None, **data.model_dump(exclude_unset=True)}
        await db.execute(UPDATE, {"note_id": note_id, **changes, **owner})
        return await get_note(db, note_id, owner)


async def delete_note(db: Database, note_id: int, owner: Owner = EVERYONE) -> None:
    await db.execute(DELETE, {"id": note_id, **owner})


# Endpoints


async def list_notes(request: Request) -> Response:
    page = parse(Page, "query", dict(request.query_params))
    db: Database = request.state.database
    # One note more than asked for says whether a next page exists, without counting them all.
    owner = owner_of(request)
    items = await list_page(db, page.limit + 1, page.offset, owner)
    following = None
    if len(items) > page.limit:
        following = str(request.url.include_query_params(offset=page.offset + page.limit))
    total = await count_notes(db, owner) if page.total else None
    return JSONResponse(
        {
            "items": items[: page.limit],
            "total": total,
            "limit": page.limit,
            "offset": page.offset,
            "next": following,
        }
    )


async def create_note(request: Request) -> Response:
    key = idempotency.key_of(request)
    data = parse(NoteIn, "body", await request.body())
    created: list[Row] = []  # the note this request wrote, if it wrote one

    async def write() -> idempotency.Answer:
        note = await insert_note(request.state.database, data, owner_of(request))
        created.append(note)
        location = str(request.url_for("note", id=note["id"]))
        return idempotency.Answer(201, location, dumps(note).decode())

    if key is None:
        answer, replayed = await write(), False
    else:
        answer, replayed = await idempotency.once(request, key, data, write)
    if not replayed:
        await publish(request, "note.created", created[0])
    return answer.response(replayed)


async def read_note(request: Request) -> Response:
    note = await get_note(request.state.database, note_id(request), owner_of(request))
    return JSONResponse(found(request, note))


async def patch_note(request: Request) -> Response:
    data = parse(NotePatch, "body", await request.body())
    note = await update_note(request.state.database, note_id(request), data, owner_of(request))
    note = found(request, note)
    await publish(request, "note.updated", note)
    return JSONResponse(note)


async def remove_note(request: Request) -> Response:
    owner = owner_of(request)
    note = found(request, await get_note(request.state.database, note_id(request), owner))
    await delete_note(request.state.database, note["id"], owner)
    await publish(request, "note.deleted", note)
    return Response(status_code=204)


# Helpers shared by the endpoints


def parse(model: type[Model], location: str, data: bytes | dict[str, str]) -> Model:
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise HTTPException(400, "The request body is not valid JSON.") from error
        raise RequestValidationError(location, error) from error


def owner_of(request: Request) -> Owner:
    """The signed-in user as the owner of the notes a request may see; without accounts, none."""
    user = request.scope.get("user")
    return EVERYONE if user is None else {"owner_id": user.id}


def note_id(request: Request) -> int:
    value: int = request.path_params["id"]
    if not 1 <= value <= MAX_ID:
        raise not_found(request)
    return value


def found(request: Request, note: Row | None) -> Row:
    if note is None:
        raise not_found(request)
    return note


def not_found(request: Request) -> HTTPException:
    return HTTPException(404, f"There is no note with id {request.path_params['id']}.")


async def publish(request: Request, kind: str, note: Row) -> None:
    events: Events = request.state.events
    # The id lets a client that receives an event twice (e.g. around a reconnect) skip it.
    # Unique, not secret: no system call per event, as uuid4 would make (see logs.py).
    event_id = f"{random.getrandbits(128):032x}"
    # The owner, if any, lets live.py send it to that user's sockets only.
    event = {"id": event_id, "type": kind, "note": json_ready(note)}
    await events.publish({**event, **owner_of(request)})


def json_ready(note: Row) -> dict[str, Any]:
    """The note as its JSON text has it: datetimes as the API writes them."""
    ready: dict[str, Any] = orjson.loads(dumps(note))
    return ready


notes_operations = {
    "GET": Operation(list_notes, "List notes, oldest first", {200: NotePage}, query=Page),
    "POST": Operation(
        create_note,
        "Create a note",
        {201: Note},
        body=NoteIn,
        headers=(idempotency.PARAMETER,),
    ),
}
note_operations = {
    "GET": Operation(read_note, "Read one note", {200: Note}),
    "PATCH": Operation(patch_note, "Change some fields of a note", {200: Note}, body=NotePatch),
    "DELETE": Operation(remove_note, "Delete a note", {204: None}),
}
routes = [
    ApiRoute("/api/notes", name="notes", operations=notes_operations),
    ApiRoute("/api/notes/{id:id}", name="note", operations=note_operations),
]
