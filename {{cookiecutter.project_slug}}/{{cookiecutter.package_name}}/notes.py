"""The notes resource: its queries and its JSON endpoints under /api/notes."""

from __future__ import annotations

from typing import TypeVar

import pydantic
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .database import Database, Row
from .errors import RequestValidationError
from .events import Events
from .openapi import ApiRoute, Operation
from .schemas import MAX_ID, Note, NoteIn, NotePage, NotePatch, Page
from .tables import notes

Model = TypeVar("Model", bound=pydantic.BaseModel)


# Queries


async def count_notes(db: Database) -> int:
    return int(await db.fetch_val("SELECT COUNT(*) FROM notes"))


async def list_page(db: Database, page: Page) -> list[Note]:
    query = notes.select().order_by(notes.c.id).limit(page.limit).offset(page.offset)
    return [Note.model_validate(row) for row in await db.fetch_all(query)]


async def get_note(db: Database, note_id: int) -> Note | None:
    row: Row | None = await db.fetch_one(notes.select().where(notes.c.id == note_id))
    return None if row is None else Note.model_validate(row)


async def insert_note(db: Database, data: NoteIn) -> Note:
    async with db.transaction():
        note_id = await db.execute(notes.insert().values(**data.model_dump()))
        note = await get_note(db, note_id)
    assert note is not None  # noqa: S101 - the row was inserted in this same transaction
    return note


async def update_note(db: Database, note_id: int, data: NotePatch) -> Note | None:
    # The write comes first, so a concurrent writer waits instead of failing (SQLite).
    async with db.transaction():
        changes = data.model_dump(exclude_unset=True)
        await db.execute(notes.update().where(notes.c.id == note_id).values(**changes))
        return await get_note(db, note_id)


async def delete_note(db: Database, note_id: int) -> None:
    # Raw SQL works too, with values bound by name, never formatted into the string.
    await db.execute("DELETE FROM notes WHERE id = :id", {"id": note_id})


# Endpoints


async def list_notes(request: Request) -> Response:
    page = parse(Page, "query", dict(request.query_params))
    db: Database = request.state.database
    items = await list_page(db, page)
    total = await count_notes(db)
    following = None
    if page.offset + len(items) < total:
        following = str(request.url.include_query_params(offset=page.offset + page.limit))
    return json_response(
        NotePage(items=items, total=total, limit=page.limit, offset=page.offset, next=following)
    )


async def create_note(request: Request) -> Response:
    data = parse(NoteIn, "body", await request.body())
    note = await insert_note(request.state.database, data)
    await publish(request, "note.created", note)
    location = request.url_for("note", id=note.id)
    return json_response(note, status_code=201, headers={"Location": str(location)})


async def read_note(request: Request) -> Response:
    return json_response(found(request, await get_note(request.state.database, note_id(request))))


async def patch_note(request: Request) -> Response:
    data = parse(NotePatch, "body", await request.body())
    note = await update_note(request.state.database, note_id(request), data)
    note = found(request, note)
    await publish(request, "note.updated", note)
    return json_response(note)


async def remove_note(request: Request) -> Response:
    note = found(request, await get_note(request.state.database, note_id(request)))
    await delete_note(request.state.database, note.id)
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


def note_id(request: Request) -> int:
    value: int = request.path_params["id"]
    if not 1 <= value <= MAX_ID:
        raise not_found(request)
    return value


def found(request: Request, note: Note | None) -> Note:
    if note is None:
        raise not_found(request)
    return note


def not_found(request: Request) -> HTTPException:
    return HTTPException(404, f"There is no note with id {request.path_params['id']}.")


async def publish(request: Request, kind: str, note: Note) -> None:
    events: Events = request.state.events
    await events.publish({"type": kind, "note": note.model_dump(mode="json")})


def json_response(
    model: pydantic.BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        model.model_dump_json(), status_code, headers=headers, media_type="application/json"
    )


notes_operations = {
    "GET": Operation(list_notes, "List notes, oldest first", {200: NotePage}, query=Page),
    "POST": Operation(create_note, "Create a note", {201: Note}, body=NoteIn),
}
note_operations = {
    "GET": Operation(read_note, "Read one note", {200: Note}),
    "PATCH": Operation(patch_note, "Change some fields of a note", {200: Note}, body=NotePatch),
    "DELETE": Operation(remove_note, "Delete a note", {204: None}),
}
routes = [
    ApiRoute("/api/notes", name="notes", operations=notes_operations),
    ApiRoute("/api/notes/{id:int}", name="note", operations=note_operations),
]
