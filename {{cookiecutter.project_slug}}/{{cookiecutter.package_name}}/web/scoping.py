"""Whose rows a request may touch: the one hook every feature's table, queries and events call.

In this project every caller shares every row: a table gets no extra column, a query no extra
condition, a write no extra value, and each live event reaches every socket. A feature written
against these functions stays correct if its rows come to belong to someone.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.requests import HTTPConnection


class Ended(Exception):
    """Raised by `hears` when an event ends the socket; the message says why."""


def columns() -> list[sa.Column[Any]]:
    """The columns a feature's table adds to record whose each row is."""
    return []


def where(table: sa.Table) -> list[sa.ColumnElement[bool]]:
    """The conditions that keep a query of `table` to the caller's rows (bound by `of`)."""
    return []


def values() -> dict[str, Any]:
    """What an insert writes into `columns()` (bound by `of`)."""
    return {}


def shown(table: sa.Table) -> list[sa.ColumnElement[Any]]:
    """The columns an answer shows: `columns()` serve the queries, not the reader."""
    return list(table.c)


def of(connection: HTTPConnection) -> dict[str, Any]:
    """The caller's values for `where` and `values`; events published with them are its own."""
    return {}


def hears(connection: HTTPConnection, event: str) -> bool:
    """Whether the socket `connection` gets `event` (JSON, as published); may raise `Ended`."""
    return True
