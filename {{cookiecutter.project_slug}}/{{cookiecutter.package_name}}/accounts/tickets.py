"""WebSocket tickets: a short-lived, signed credential that opens one socket, once.

A client that cannot send a cookie or an Authorization header with the handshake (a browser's
`WebSocket`, for one) asks `POST /api/socket-tokens` for a ticket and offers it as a
subprotocol (see auth.py). The ticket holds the credential that made it, the token or the
session's version, so revoking the token or signing out voids the unused tickets too. Its
nonce goes into `spent_tickets` when it is used: the table's primary key makes the first use
the only one, whichever process or pod the socket reaches.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..core.database import Database, DatabaseUnavailable
from .tables import spent_tickets
from .users import User

logger = logging.getLogger(__name__)

SECONDS = 60
# A spent nonce is kept twice as long as a ticket lives, so a server whose clock is a little
# behind still finds it.
KEPT = timedelta(seconds=2 * SECONDS)

SPEND = spent_tickets.insert().values(nonce=sa.bindparam("nonce"), expires_at=sa.bindparam("until"))
FIND = sa.select(spent_tickets.c.nonce).where(spent_tickets.c.nonce == sa.bindparam("nonce"))
FORGET = spent_tickets.delete().where(spent_tickets.c.expires_at < sa.bindparam("now"))


@dataclass(frozen=True)
class Ticket:
    """Who a ticket opens a socket for: the user, and the token that made it (None: the
    session of that version)."""

    user_id: int
    token_id: int | None
    version: int


class Tickets:
    def __init__(self, secret_key: str) -> None:
        self.serializer = URLSafeTimedSerializer(secret_key, salt="socket")

    def mint(self, user: User, version: int) -> str:
        """A ticket that opens one WebSocket as `user` within `SECONDS`."""
        data = {"user": user.id, "token": user.token_id, "v": version, "n": secrets.token_hex(16)}
        return self.serializer.dumps(data)

    async def spend(self, db: Database, ticket: str) -> Ticket | None:
        """The ticket's holder, and this use spends it; None if forged, expired or spent."""
        try:
            data, issued = self.serializer.loads(ticket, max_age=SECONDS, return_timestamp=True)
            holder = Ticket(int(data["user"]), data["token"], int(data["v"]))
            nonce = str(data["n"])
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        await forget(db)
        try:
            await db.execute(SPEND, {"nonce": nonce, "until": issued + KEPT})
        except DatabaseUnavailable:
            raise
        except Exception:
            # Most likely the primary key: this ticket was used already, here or elsewhere.
            if await db.fetch_val(FIND, {"nonce": nonce}) is not None:
                return None
            raise
        return holder


async def forget(db: Database) -> None:
    """Delete the nonces of expired tickets: a ticket's own timestamp refuses it by then."""
    try:
        await db.execute(FORGET, {"now": datetime.now(UTC)})
    except DatabaseUnavailable:
        raise
    except Exception as exc:  # e.g. a deadlock with a concurrent spend: the next one retries
        logger.info("Spent tickets stay until the next socket: %r", exc)
