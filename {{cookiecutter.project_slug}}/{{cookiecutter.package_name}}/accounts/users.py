"""Who a request acts for (`User`, Starlette's `BaseUser`), and the queries on users and tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from starlette.authentication import BaseUser

from ..core.database import Database, DatabaseUnavailable, Row
from ..web.schemas import as_utc
from .tables import tokens, users

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")  # the shape only: mail is not sent
USE_RECORDED_EVERY = timedelta(minutes=1)  # how stale a token's last_used_at may grow
TOKEN_PREFIX = "pat_"  # noqa: S105 - not a secret, but so a leaked token is recognisable, e.g. by secret scanners


class User(BaseUser):
    """A signed-in user, and the credential the request came with: a token's id, or None for
    the session cookie. `request.user` is one of these, or Starlette's `UnauthenticatedUser`."""

    def __init__(self, id: int, email: str, token_id: int | None = None) -> None:
        self.id, self.email, self.token_id = id, email, token_id

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.email

    @property
    def identity(self) -> str:
        return str(self.id)


def normal_email(email: str) -> str:
    """The one spelling of an address that is stored, looked up and rate-limited: Unicode NFKC
    (so a composed "í" and "i" + combining accent are one letter), without surrounding space,
    case-folded whole ("Alice@Example.COM" is "alice@example.com"). Accents stay: "alíce" is
    another address than "alice", and the column compares bytes, so it finds no other."""
    return unicodedata.normalize("NFKC", email).strip().casefold()


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


BY_EMAIL = users.select().where(users.c.email == sa.bindparam("email"))
BY_ID = users.select().where(users.c.id == sa.bindparam("id"))
NEW_PASSWORD = (
    users.update()
    .where(users.c.id == sa.bindparam("user_id"))
    .values(
        password_hash=sa.bindparam("password_hash"),
        session_version=users.c.session_version + 1,
    )
)
ACTIVE_BY_ID = sa.select(users.c.id, users.c.email).where(
    users.c.id == sa.bindparam("id"), users.c.active
)
IN_SESSION = ACTIVE_BY_ID.where(users.c.session_version == sa.bindparam("version"))
END_SESSIONS = (
    users.update()
    .where(users.c.id == sa.bindparam("user_id"))
    .values(session_version=users.c.session_version + 1)
)
TOKEN_OF = ACTIVE_BY_ID.select_from(tokens.join(users)).where(
    tokens.c.id == sa.bindparam("token_id")
)
BY_TOKEN = (
    sa.select(users.c.id, users.c.email, tokens.c.id.label("token_id"), tokens.c.last_used_at)
    .select_from(tokens.join(users))
    .where(tokens.c.digest == sa.bindparam("digest"), users.c.active)
)
TOKEN_USED = (
    tokens.update()
    .where(tokens.c.id == sa.bindparam("token_id"))
    .values(last_used_at=sa.bindparam("now"))
)
SIGNED_IN = (
    users.update()
    .where(users.c.id == sa.bindparam("user_id"))
    .values(last_login_at=sa.bindparam("now"))
)
REHASHED = (
    users.update()
    .where(users.c.id == sa.bindparam("user_id"))
    .values(password_hash=sa.bindparam("password_hash"))
)
TOKENS_OF = (
    sa.select(tokens.c.id, tokens.c.name, tokens.c.created_at, tokens.c.last_used_at)
    .where(tokens.c.user_id == sa.bindparam("user_id"))
    .order_by(tokens.c.id)
)
REVOKE = tokens.delete().where(
    tokens.c.id == sa.bindparam("token_id"), tokens.c.user_id == sa.bindparam("user_id")
)


async def find_by_email(db: Database, email: str) -> Row | None:
    return await db.fetch_one(BY_EMAIL, {"email": normal_email(email)})


async def find_by_id(db: Database, user_id: int) -> Row | None:
    return await db.fetch_one(BY_ID, {"id": user_id})


async def change_password(db: Database, user_id: int, password_hash: str) -> int:
    """Store the new hash and end every session; the new session version, for the caller's."""
    async with db.transaction():
        await db.execute(NEW_PASSWORD, {"user_id": user_id, "password_hash": password_hash})
        row = await db.fetch_one(BY_ID, {"id": user_id})
    if row is None:  # deleted meanwhile
        raise LookupError(f"There is no user {user_id}.")
    version: int = row["session_version"]
    return version


async def session_user(db: Database, user_id: int, version: int) -> User | None:
    """The active user a session cookie names, unless they signed out since it was issued."""
    row = await db.fetch_one(IN_SESSION, {"id": user_id, "version": version})
    return None if row is None else User(row["id"], row["email"])


async def token_user(db: Database, user_id: int, token_id: int) -> User | None:
    """The active user, while their token `token_id` is not revoked."""
    row = await db.fetch_one(TOKEN_OF, {"id": user_id, "token_id": token_id})
    return None if row is None else User(row["id"], row["email"], token_id)


async def end_sessions(db: Database, user_id: int) -> None:
    await db.execute(END_SESSIONS, {"user_id": user_id})


async def user_of_token(db: Database, token: str) -> User | None:
    """The token's active user; the token's use is recorded, once in `USE_RECORDED_EVERY`."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = await db.fetch_one(BY_TOKEN, {"digest": digest(token)})
    if row is None:
        return None
    now, last = datetime.now(UTC), row["last_used_at"]
    if last is None or now - as_utc(last) >= USE_RECORDED_EVERY:
        await db.execute(TOKEN_USED, {"token_id": row["token_id"], "now": now})
    return User(row["id"], row["email"], row["token_id"])


async def create_user(db: Database, email: str, password_hash: str) -> int:
    """The new user's id; raises `EmailTaken` if the address has an account already."""
    new = users.insert().values(email=normal_email(email), password_hash=password_hash)
    try:
        user_id: int = await db.execute(new)
    except DatabaseUnavailable:
        raise
    except Exception:
        # Most likely the unique email, taken meanwhile by a concurrent sign-up.
        if await find_by_email(db, email) is not None:
            raise EmailTaken(email) from None
        raise
    return user_id


class EmailTaken(Exception):
    """An account with this email address exists already."""


async def set_active(db: Database, email: str, *, active: bool) -> bool:
    """Whether an account has that email (it is now active, or not, either way)."""
    change = users.update().where(users.c.email == normal_email(email)).values(active=active)
    return bool(await db.execute(change))


async def record_sign_in(db: Database, user_id: int, new_hash: str | None) -> None:
    await db.execute(SIGNED_IN, {"user_id": user_id, "now": datetime.now(UTC)})
    if new_hash is not None:  # the hashing parameters changed since this hash was made
        await db.execute(REHASHED, {"user_id": user_id, "password_hash": new_hash})


async def create_token(db: Database, user_id: int, name: str) -> tuple[int, str]:
    """A new token's id and its text, which exists nowhere else afterwards."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    new = tokens.insert().values(user_id=user_id, name=name, digest=digest(token))
    token_id: int = await db.execute(new)
    return token_id, token


async def tokens_of(db: Database, user_id: int) -> list[Row]:
    return await db.fetch_all(TOKENS_OF, {"user_id": user_id})


async def revoke_token(db: Database, user_id: int, token_id: int) -> bool:
    """Whether the user had that token (it is gone either way)."""
    return bool(await db.execute(REVOKE, {"user_id": user_id, "token_id": token_id}))
