"""The one `MetaData` every feature declares its tables on, so Alembic migrates them all, and
the column type every table stores its points in time with."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

# Stable constraint names, so migrations can drop or alter them on every backend.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Instant(sa.TypeDecorator[datetime]):
    """A point in time, stored as the same instant in UTC whatever offset it comes with.

    PostgreSQL stores an offset; SQLite and MySQL keep the wall-clock time and drop it, so an
    aware value is converted to UTC first (18:00+01:00 is stored as 17:00). A naive value is
    taken as UTC, as the server's CURRENT_TIMESTAMP is. Reads come back naive or aware by
    backend; the API's schemas and JSON writer read both as UTC. Migrations see a plain
    `sa.DateTime(timezone=True)` (migrations/env.py writes it so).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"a point in time must be a datetime, not {type(value).__name__}")
        moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        return moment if dialect.name == "postgresql" else moment.replace(tzinfo=None)


def exact(length: int) -> sa.types.TypeEngine[str]:
    """A string compared byte for byte on every backend: keys, digests, email addresses.

    PostgreSQL and SQLite compare strings exactly already; MySQL's and MariaDB's default
    collations would match "Key" to "key" and "alíce" to "alice", so there it is binary.
    """
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )
