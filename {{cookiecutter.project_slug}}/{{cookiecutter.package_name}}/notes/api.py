"""The notes resource's JSON endpoints, under /api/notes.

Requests are validated by the models in schemas.py; rows the database returns are written out
as they are (orjson, see web/responses.py), without validating what the database produced.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..core.database import Database, Row
from ..core.events import Events
from ..web import idempotency, scoping
from ..web.responses import JSONResponse, dumps
from ..web.routing import ApiRoute, Operation, parse
from ..web.schemas import MAX_ID
from .queries import count_notes, delete_note, get_note, insert_note, list_page, update_note
from .schemas import Note, NoteIn, NotePage, NotePatch, Page


async def list_notes(request: Request) -> Response:
    page = parse(Page, "query", dict(request.query_params))
    db: Database = request.state.database
    # One note more than asked for says whether a next page exists, without counting them all.
    caller = scoping.of(request)
    items = await list_page(db, page.limit + 1, page.offset, caller)
    following = None
    if len(items) > page.limit:
        following = str(request.url.include_query_params(offset=page.offset + page.limit))
    total = await count_notes(db, caller) if page.total else None
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
        note = await insert_note(request.state.database, data, scoping.of(request))
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
    note = await get_note(request.state.database, note_id(request), scoping.of(request))
    return JSONResponse(found(request, note))


async def patch_note(request: Request) -> Response:
    data = parse(NotePatch, "body", await request.body())
    note = await update_note(request.state.database, note_id(request), data, scoping.of(request))
    note = found(request, note)
    await publish(request, "note.updated", note)
    return JSONResponse(note)


async def remove_note(request: Request) -> Response:
    caller = scoping.of(request)
    note = found(request, await get_note(request.state.database, note_id(request), caller))
    await delete_note(request.state.database, note["id"], caller)
    await publish(request, "note.deleted", note)
    return Response(status_code=204)


# Helpers shared by the endpoints


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
    # The caller's scope lets live.py send it to the sockets that may see it only.
    event = {"id": event_id, "type": kind, "note": json_ready(note)}
    await events.publish({**event, **scoping.of(request)})


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
        example={"title": "Shopping", "body": "Eggs, flour, milk"},
    ),
}
note_operations = {
    "GET": Operation(read_note, "Read one note", {200: Note}),
    "PATCH": Operation(
        patch_note,
        "Change some fields of a note",
        {200: Note},
        body=NotePatch,
        example={"body": "Eggs, flour, milk, butter"},
    ),
    "DELETE": Operation(remove_note, "Delete a note", {204: None}),
}
routes = [
    ApiRoute("/api/notes", name="notes", tag="notes", operations=notes_operations),
    ApiRoute("/api/notes/{id:id}", name="note", tag="notes", operations=note_operations),
]
