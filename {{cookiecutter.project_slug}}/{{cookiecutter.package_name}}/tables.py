"""The database schema: one `MetaData` holding every table. Alembic migrates from this."""

from importlib import import_module
from importlib.util import find_spec

import sqlalchemy as sa

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

# CURRENT_TIMESTAMP rather than now(): it is the one spelling all three backends accept.
notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column(
        "created_at",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.func.current_timestamp(),
    ),
    sa.Column(
        "updated_at",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.func.current_timestamp(),
        onupdate=sa.func.current_timestamp(),
    ),
    # SQLite would otherwise give a new note the id of the last one deleted.
    sqlite_autoincrement=True,
)

# The first answer to each POST that carried an Idempotency-Key, so a retry gets it again.
# Written in the transaction of the row it reports, so one exists exactly when the other does.
idempotency_keys = sa.Table(
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

# A project with user accounts declares their tables, and each note's owner, in users.py.
if find_spec(f"{__package__}.users") is not None:
    import_module(f"{__package__}.users")
