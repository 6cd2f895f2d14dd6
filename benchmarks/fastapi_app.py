"""What a user would otherwise pick: the benchmarked routes in FastAPI on SQLAlchemy's asyncio ORM.

Written the way FastAPI's and SQLAlchemy's documentation teach it: a declarative model mapped to
the rendered project's `notes` table, an `AsyncSession` per request from `async_sessionmaker`
(a dependency), pydantic models for bodies and responses, the engine's default pool. Served by
uvicorn (uvloop, httptools) from `routes.py`; DATABASE_URL is the project's database.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import DateTime, String, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200)
    body: str = Field("", max_length=10_000)


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body: str
    created_at: datetime
    updated_at: datetime


class NotePage(BaseModel):
    items: list[NoteOut]
    total: int | None
    limit: int
    offset: int
    next: str | None


engine = create_async_engine(os.environ["DATABASE_URL"])
sessions = async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def session() -> AsyncIterator[AsyncSession]:
    async with sessions() as opened:
        yield opened


Session = Annotated[AsyncSession, Depends(session)]


@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/notes/{note_id}", response_model=NoteOut)
async def read_note(note_id: int, db: Session) -> Note:
    note = await db.get(Note, note_id)
    if note is None:
        raise HTTPException(404, f"There is no note with id {note_id}.")
    return note


@app.get("/api/notes", response_model=NotePage)
async def list_notes(
    request: Request,
    db: Session,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    total: bool = False,
) -> NotePage:
    query = select(Note).order_by(Note.id).limit(limit + 1).offset(offset)
    items = list(await db.scalars(query))
    following = None
    if len(items) > limit:
        following = str(request.url.include_query_params(offset=offset + limit))
    count = await db.scalar(select(func.count()).select_from(Note)) if total else None
    return NotePage(
        items=[NoteOut.model_validate(note) for note in items[:limit]],
        total=count,
        limit=limit,
        offset=offset,
        next=following,
    )


@app.post("/api/notes", status_code=201, response_model=NoteOut)
async def create_note(data: NoteIn, request: Request, response: Response, db: Session) -> Note:
    note = Note(**data.model_dump())
    db.add(note)
    await db.commit()
    await db.refresh(note)  # the timestamps the database set
    response.headers["Location"] = str(request.url_for("read_note", note_id=note.id))
    return note
