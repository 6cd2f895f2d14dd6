"""The links mailed to users: a random token in the link, only its SHA-256 in `email_links`;
each works once, until it expires. "verify" proves an address at sign-up, "reset" sets a new
password (and ends every session)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ..core.database import Database
from ..web.schemas import as_utc
from .tables import email_links, users
from .users import digest

VERIFY, RESET = "verify", "reset"

FIND = sa.select(
    email_links.c.id, email_links.c.user_id, email_links.c.expires_at, email_links.c.used_at
).where(
    email_links.c.digest == sa.bindparam("digest"), email_links.c.purpose == sa.bindparam("purpose")
)
# Only the first use of a link changes a row: two at once, one wins.
SPEND = (
    email_links.update()
    .where(email_links.c.id == sa.bindparam("link_id"), email_links.c.used_at.is_(None))
    .values(used_at=sa.bindparam("now"))
)
VERIFIED = (
    users.update()
    .where(users.c.id == sa.bindparam("user_id"), users.c.email_verified_at.is_(None))
    .values(email_verified_at=sa.bindparam("now"))
)


def new_token() -> tuple[str, str]:
    """A link's token and its digest; made whether or not an account is found, as the same work."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


async def store(
    db: Database, user_id: int, purpose: str, token_digest: str, life: timedelta
) -> None:
    until = datetime.now(UTC) + life
    new = email_links.insert().values(
        user_id=user_id, purpose=purpose, digest=token_digest, expires_at=until
    )
    await db.execute(new)


async def holder(db: Database, purpose: str, token: str) -> int | None:
    """The user a link is for while it is unused and unexpired; it stays unused."""
    row = await db.fetch_one(FIND, {"digest": digest(token), "purpose": purpose})
    if row is None or row["used_at"] is not None or as_utc(row["expires_at"]) <= datetime.now(UTC):
        return None
    user_id: int = row["user_id"]
    return user_id


async def spend(db: Database, purpose: str, token: str) -> int | None:
    """The user a link is for, and this use spends it; None if unknown, used or expired."""
    row = await db.fetch_one(FIND, {"digest": digest(token), "purpose": purpose})
    now = datetime.now(UTC)
    if row is None or row["used_at"] is not None or as_utc(row["expires_at"]) <= now:
        return None
    if not await db.execute(SPEND, {"link_id": row["id"], "now": now}):
        return None
    user_id: int = row["user_id"]
    return user_id


async def verify(db: Database, user_id: int) -> None:
    await db.execute(VERIFIED, {"user_id": user_id, "now": datetime.now(UTC)})
