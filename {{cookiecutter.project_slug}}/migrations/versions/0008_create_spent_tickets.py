"""Spent WebSocket tickets: a ticket opens one socket, whichever process the socket reaches.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spent_tickets",
        sa.Column(
            "nonce",
            sa.String(length=32).with_variant(
                mysql.VARCHAR(32, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
            ),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_spent_tickets")),
    )
    op.create_index(
        op.f("ix_spent_tickets_expires_at"), "spent_tickets", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_spent_tickets_expires_at"), table_name="spent_tickets")
    op.drop_table("spent_tickets")
