"""`Idempotency-Key` on POST: a retry gets the first answer again instead of writing twice.

A client that got no answer, or a 503, cannot know whether its write was committed. If it sent
a key, it may send the same request with the same key again: the key and the first answer are
stored in the transaction of the write itself, so either both exist or neither does.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import pydantic
import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy import bindparam
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..core.database import Database, DatabaseUnavailable, Row
from ..core.metadata import metadata
from ..core.settings import Settings
from .errors import RequestValidationError

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"

# The first answer to each POST that carried an Idempotency-Key, so a retry gets it again.
# Written in the transaction of the row it reports, so one exists exactly when the other does.
keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request", sa.String(64), nullable=False),  # SHA-256 of the validated body
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("location", sa.String(2000), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column(
        "created_at",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.func.current_timestamp(),
        index=True,
    ),
)

ATTEMPTS = 3
FORGET_EVERY_SECONDS = 600

# The one read, built once (see database.py); writes are built per call with their values.
FIND = keys.select().where(keys.c.key == bindparam("key"), keys.c.created_at >= bindparam("cutoff"))


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
    fingerprint = hashlib.sha256(data.model_dump_json().encode()).hexdigest()
    cutoff = datetime.now(UTC) - timedelta(hours=settings.idempotency_key_hours)
    attempts = 0
    while True:
        stored = await db.fetch_one(FIND, {"key": key, "cutoff": cutoff})
        if stored is not None:
            return replay(stored, fingerprint), True
        if attempts:
            # The key may be stored but expired; delete it on its own, never inside the write's
            # transaction, where the DELETE's range lock deadlocks concurrent inserts on MySQL.
            await forget(db, cutoff, key)
        attempts += 1
        try:
            async with db.transaction():
                # The key goes in first: a concurrent request with the same key waits here
                # until this transaction ends, then fails on the duplicate and replays.
                claim = keys.insert().values(key=key, request=fingerprint, status=0)
                await db.execute(claim.values(location="", body=""))
                answer = await write()
                await db.execute(
                    keys.update()
                    .where(keys.c.key == key)
                    .values(status=answer.status, location=answer.location, body=answer.body)
                )
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


async def forget(db: Database, cutoff: datetime, key: str | None = None) -> None:
    """Delete the keys stored before `cutoff`: all of them, or only `key`."""
    expired = keys.c.created_at < cutoff
    await db.execute(keys.delete().where(expired if key is None else expired & (keys.c.key == key)))


async def keep_forgetting(db: Database, hours: float) -> None:
    """Delete expired keys now and then, for as long as the app runs.

    Reads ignore expired keys already; this only keeps the table small.
    """
    while True:
        await asyncio.sleep(FORGET_EVERY_SECONDS)
        try:
            await forget(db, datetime.now(UTC) - timedelta(hours=hours))
        except DatabaseUnavailable as exc:
            logger.warning("Expired idempotency keys stay until the database is back: %s", exc)
