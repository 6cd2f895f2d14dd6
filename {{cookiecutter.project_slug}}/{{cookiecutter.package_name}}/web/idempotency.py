"""`Idempotency-Key` on POST: a retry gets the first answer again instead of writing twice.

A client that got no answer, or a 503, cannot know whether its write was committed. If it sent
a key, it may send the same request with the same key again: the key and the first answer are
stored in the transaction of the write itself, so either both exist or neither does. Keys are
the caller's own (web/scoping.py): another caller's same key is another key.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import pydantic
import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy import bindparam
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..core.database import Database, DatabaseUnavailable, Row
from ..core.jobs import Context
from ..core.metadata import Instant, exact, metadata
from ..core.settings import Settings
from . import scoping
from .errors import RequestValidationError

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"

# The first answer to each POST that carried an Idempotency-Key, so a retry gets it again.
# Written in the transaction of the row it reports, so one exists exactly when the other does.
# The key is the caller's (`scoping.columns()` are part of the primary key) and exact: "Key"
# and "key" are two keys on every backend.
keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key", exact(200), nullable=False),
    *scoping.columns(),
    sa.Column("request", exact(64), nullable=False),  # SHA-256 of the validated body
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("location", sa.String(2000), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column(
        "created_at",
        Instant(),
        nullable=False,
        server_default=sa.func.current_timestamp(),
        index=True,
    ),
)
# Each key is somebody's: whose it is belongs to the key, so it cannot be left out.
for _column in scoping.columns():
    keys.c[_column.name].nullable = False
keys.append_constraint(sa.PrimaryKeyConstraint("key", *(c.name for c in scoping.columns())))

ATTEMPTS = 3
FORGET_EVERY_MINUTES = 10  # how often forget_expired runs (features.py)

# The one read, built once (see database.py); writes are built per call with their values.
MINE = [keys.c.key == bindparam("key"), *scoping.where(keys)]
FIND = keys.select().where(*MINE, keys.c.created_at >= bindparam("cutoff"))
CLAIM = keys.insert().values(
    key=bindparam("key"),
    request=bindparam("request"),
    status=0,
    location="",
    body="",
    **scoping.values(),
)
ANSWERED = (
    keys.update()
    .where(*MINE)
    .values(status=bindparam("status"), location=bindparam("location"), body=bindparam("body"))
)


class KeyHeader(BaseModel):
    key: Annotated[str, Field(alias=HEADER, min_length=1, max_length=200, pattern=r"^[!-~]+$")]


PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Any unique string (a UUID, say) of up to 200 visible ASCII characters. A request "
        "repeated with the same key and body gets the first answer again, without a second "
        "write; the same key with another body is refused with 422. Keys expire after "
        "IDEMPOTENCY_KEY_HOURS."
    ),
    "schema": KeyHeader.model_json_schema()["properties"][HEADER],
}


@dataclass(frozen=True)
class Answer:
    status: int
    location: str
    body: str

    def response(self, replayed: bool) -> Response:
        headers = {"Location": self.location}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(self.body, self.status, headers, media_type="application/json")


def key_of(request: Request) -> str | None:
    """The request's key, None without one, or a 422 naming the header when it is malformed."""
    value = request.headers.get(HEADER)
    if value is None:
        return None
    try:
        return KeyHeader.model_validate({HEADER: value}).key
    except pydantic.ValidationError as error:
        raise RequestValidationError("header", error) from error


async def once(
    request: Request, key: str, data: BaseModel, write: Callable[[], Awaitable[Answer]]
) -> tuple[Answer, bool]:
    """`write`'s answer, stored under `key` in its transaction; or the stored one, replayed."""
    db: Database = request.state.database
    settings: Settings = request.state.settings
    mine = {"key": key, **scoping.of(request)}
    fingerprint = hashlib.sha256(data.model_dump_json().encode()).hexdigest()
    cutoff = datetime.now(UTC) - timedelta(hours=settings.idempotency_key_hours)
    attempts = 0
    while True:
        stored = await db.fetch_one(FIND, {**mine, "cutoff": cutoff})
        if stored is not None:
            return replay(stored, fingerprint), True
        if attempts:
            # The key may be stored but expired; delete it on its own, never inside the write's
            # transaction, where the DELETE's range lock deadlocks concurrent inserts on MySQL.
            await forget(db, cutoff, mine)
        attempts += 1
        try:
            async with db.transaction():
                # The key goes in first: a concurrent request with the same key waits here
                # until this transaction ends, then fails on the duplicate and replays.
                await db.execute(CLAIM, {**mine, "request": fingerprint})
                answer = await write()
                values = {"status": answer.status, "location": answer.location, "body": answer.body}
                await db.execute(ANSWERED, {**mine, **values})
            return answer, False
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            # Most likely the duplicate key: the transaction rolled back, and the next look
            # finds the winner's answer (or an expired key, deleted before the next try).
            if attempts == ATTEMPTS:
                raise
            logger.info("%s %r: try %d of %d failed: %r", HEADER, key, attempts, ATTEMPTS, exc)


def replay(stored: Row, fingerprint: str) -> Answer:
    if stored["request"] != fingerprint:
        raise HTTPException(
            422, f"The {HEADER} header was already used with a different request body."
        )
    return Answer(stored["status"], stored["location"], stored["body"])


async def forget(db: Database, cutoff: datetime, mine: dict[str, Any] | None = None) -> None:
    """Delete the keys stored before `cutoff`: all of them, or only the caller's key `mine`
    (its "key" and `scoping.of` values)."""
    expired = keys.delete().where(keys.c.created_at < cutoff)
    if mine is None:
        await db.execute(expired)
    else:
        await db.execute(expired.where(*MINE), mine)


async def forget_expired(context: Context) -> None:
    """A periodic job (features.py): delete the expired keys.

    Reads ignore expired keys already; this only keeps the table small.
    """
    cutoff = datetime.now(UTC) - timedelta(hours=context.settings.idempotency_key_hours)
    try:
        await forget(context.database, cutoff)
    except DatabaseUnavailable as exc:
        logger.warning("Expired idempotency keys stay until the database is back: %s", exc)
