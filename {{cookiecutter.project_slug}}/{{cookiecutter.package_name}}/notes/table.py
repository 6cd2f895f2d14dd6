"""The notes table. A new column starts here; then `scripts/migrate revision --autogenerate`."""

import sqlalchemy as sa

from ..core.metadata import metadata
from ..web import scoping

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
    *scoping.columns(),  # whose rows these are, when rows belong to someone (web/scoping.py)
    # SQLite would otherwise give a new note the id of the last one deleted.
    sqlite_autoincrement=True,
)
