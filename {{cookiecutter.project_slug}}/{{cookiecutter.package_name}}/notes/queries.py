"""The notes queries. Each statement is written once, here, and run with each call's values:
SQLAlchemy compiles it once (see core/plans.py) instead of on every request.

Every query is kept to the caller's notes by `web/scoping.py`: `caller` holds the caller's
values (`scoping.of(request)`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ..core.database import Database, Row
from ..web import scoping
from .schemas import NoteIn, NotePatch
from .table import notes

SCOPE = scoping.where(notes)
SHOWN = scoping.shown(notes)
HIDDEN = sorted(set(notes.c.keys()) - {column.key for column in SHOWN})

COUNT = sa.select(sa.func.count()).select_from(notes).where(*SCOPE)
PAGE = (
    sa.select(*SHOWN)
    .where(*SCOPE)
    .order_by(notes.c.id)
    .limit(sa.bindparam("limit"))
    .offset(sa.bindparam("skip"))
)
# From just after a note id on: pages that stay right while notes are added or deleted.
AFTER = (
    sa.select(*SHOWN)
    .where(notes.c.id > sa.bindparam("after"), *SCOPE)
    .order_by(notes.c.id)
    .limit(sa.bindparam("limit"))
)
NEWEST = sa.select(*SHOWN).where(*SCOPE).order_by(notes.c.id.desc()).limit(100)
BY_ID = sa.select(*SHOWN).where(notes.c.id == sa.bindparam("id"), *SCOPE)
INSERT = notes.insert().values(
    title=sa.bindparam("title"), body=sa.bindparam("body"), **scoping.values()
)
DELETE = notes.delete().where(notes.c.id == sa.bindparam("id"), *SCOPE)
# A PATCH sets the fields it sends, null included, and no other: one statement for each set of
# fields, built the first time it is sent (see `updating`).
UPDATES: dict[frozenset[str], sa.Update] = {}

Scope = Mapping[str, Any]
EVERYONE: Scope = {}


async def count_notes(db: Database, caller: Scope = EVERYONE) -> int:
    return int(await db.fetch_val(COUNT, {**caller}))


async def list_page(db: Database, limit: int, offset: int, caller: Scope = EVERYONE) -> list[Row]:
    return await db.fetch_all(PAGE, {"limit": limit, "skip": offset, **caller})


async def list_after(db: Database, after: int, limit: int, caller: Scope = EVERYONE) -> list[Row]:
    return await db.fetch_all(AFTER, {"after": after, "limit": limit, **caller})


async def newest(db: Database, caller: Scope = EVERYONE) -> list[Row]:
    return await db.fetch_all(NEWEST, {**caller})


async def get_note(db: Database, note_id: int, caller: Scope = EVERYONE) -> Row | None:
    return await db.fetch_one(BY_ID, {"id": note_id, **caller})


async def insert_note(db: Database, data: NoteIn, caller: Scope = EVERYONE) -> Row:
    row = await db.insert(INSERT, {**data.model_dump(), **caller})
    for name in HIDDEN:  # as SHOWN leaves them out
        del row[name]
    return row


async def update_note(
    db: Database, note_id: int, data: NotePatch, caller: Scope = EVERYONE
) -> Row | None:
    changes = data.model_dump(exclude_unset=True)
    if not changes:
        return await get_note(db, note_id, caller)
    # The write comes first, so a concurrent writer waits instead of failing (SQLite).
    async with db.transaction():
        await db.execute(updating(frozenset(changes)), {"note_id": note_id, **changes, **caller})
        return await get_note(db, note_id, caller)


async def delete_note(db: Database, note_id: int, caller: Scope = EVERYONE) -> None:
    await db.execute(DELETE, {"id": note_id, **caller})


def updating(fields: frozenset[str]) -> sa.Update:
    """The UPDATE of exactly `fields` (a model's fields: a small, fixed number of sets)."""
    found = UPDATES.get(fields)
    if found is None:
        found = UPDATES[fields] = (
            notes.update()
            .where(notes.c.id == sa.bindparam("note_id"), *SCOPE)
            .values({name: sa.bindparam(name) for name in sorted(fields)})
        )
    return found
