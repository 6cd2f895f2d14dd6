"""Whose rows a request may touch: each row belongs to the user who wrote it.

The one hook every feature's table, queries and events call. A scoped table gets an `owner_id`
column; every query reads and writes only the rows of `:owner_id`, the signed-in user, so
another user's row is as missing as a deleted one; each event goes to its owner's sockets only.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from starlette.requests import HTTPConnection

OWNER = "owner_id"


class Ended(Exception):
    """Raised by `hears` when an event ends the socket; the message says why."""


def columns() -> list[sa.Column[Any]]:
    """The columns a feature's table adds to record whose each row is.

    Rows written before accounts existed have no owner, and no user sees them.
    """
    owner = sa.ForeignKey("users.id", ondelete="CASCADE")
    return [sa.Column(OWNER, owner, nullable=True, index=True)]


def where(table: sa.Table) -> list[sa.ColumnElement[bool]]:
    """The conditions that keep a query of `table` to the caller's rows (bound by `of`)."""
    return [table.c[OWNER] == sa.bindparam(OWNER)]


def values() -> dict[str, Any]:
    """What an insert writes into `columns()` (bound by `of`)."""
    return {OWNER: sa.bindparam(OWNER)}


def shown(table: sa.Table) -> list[sa.ColumnElement[Any]]:
    """The columns an answer shows: `columns()` serve the queries, not the reader."""
    return [column for column in table.c if column.name != OWNER]


def of(connection: HTTPConnection) -> dict[str, Any]:
    """The caller's values for `where` and `values`; events published with them are its own."""
    return {OWNER: connection.user.id}


def hears(connection: HTTPConnection, event: str) -> bool:
    """Whether the socket `connection` gets `event` (JSON, as published); may raise `Ended`.

    Signing out ends the sockets opened with the session; revoking a token, its own.
    """
    data = json.loads(event)
    user = connection.user
    if data.get(OWNER, user.id) != user.id:
        return False
    if data["type"] == "session.ended" and user.token_id is None:
        raise Ended("Signed out.")
    if data["type"] == "token.revoked" and data["token_id"] == user.token_id:
        raise Ended("The token was revoked.")
    return data["type"] not in {"session.ended", "token.revoked"}
