"""Create users and tokens; each note gets an owner.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_tokens_digest")),
    )
    op.create_index(op.f("ix_tokens_user_id"), "tokens", ["user_id"], unique=False)
    # Notes written before accounts existed keep no owner, and no user sees them.
    with notes_table() as notes:
        notes.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        notes.create_index(notes.f("ix_notes_owner_id"), ["owner_id"], unique=False)
        notes.create_foreign_key(
            notes.f("fk_notes_owner_id_users"), "users", ["owner_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with notes_table() as notes:
        notes.drop_constraint(notes.f("fk_notes_owner_id_users"), type_="foreignkey")
        notes.drop_index(notes.f("ix_notes_owner_id"))
        notes.drop_column("owner_id")
    op.drop_table("tokens")  # and its index, which MySQL's foreign key needs until then
    op.drop_table("users")


def notes_table() -> AbstractContextManager[BatchOperations]:
    # SQLite rebuilds the table to add a foreign key; it must keep AUTOINCREMENT (0003).
    kwargs = {"sqlite_autoincrement": True} if op.get_context().dialect.name == "sqlite" else {}
    return op.batch_alter_table("notes", table_kwargs=kwargs)
