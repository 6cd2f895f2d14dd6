"""Notes ids are never reused: AUTOINCREMENT on SQLite.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def autoincrement(on: bool) -> None:
    # PostgreSQL and MySQL never hand out an id twice; SQLite must rebuild the table for it.
    if op.get_context().dialect.name == "sqlite":
        kwargs = {"sqlite_autoincrement": on}
        with op.batch_alter_table("notes", recreate="always", table_kwargs=kwargs):
            pass


def upgrade() -> None:
    autoincrement(True)


def downgrade() -> None:
    autoincrement(False)
