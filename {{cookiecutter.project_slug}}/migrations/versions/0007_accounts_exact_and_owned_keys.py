"""Each idempotency key is its user's; emails and token digests compare byte for byte.

Keys stored before this revision belong to nobody and are forgotten: they only replay answers
to retries, and a retry after the upgrade writes anew. On MySQL and MariaDB, emails and token
digests get a binary collation, so "alíce@example.com" is not "alice@example.com".

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXACT = {("users", "email"): 254, ("tokens", "digest"): 64}


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM idempotency_keys"))
    with op.batch_alter_table("idempotency_keys") as keys:
        keys.add_column(sa.Column("owner_id", sa.Integer(), nullable=False))
        keys.drop_constraint("pk_idempotency_keys", type_="primary")
        keys.create_primary_key("pk_idempotency_keys", ["key", "owner_id"])
        keys.create_index(keys.f("ix_idempotency_keys_owner_id"), ["owner_id"], unique=False)
        keys.create_foreign_key(
            keys.f("fk_idempotency_keys_owner_id_users"),
            "users",
            ["owner_id"],
            ["id"],
            ondelete="CASCADE",
        )
    if op.get_context().dialect.name == "mysql":
        for (table, name), length in EXACT.items():
            exact = mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin")
            op.alter_column(table, name, type_=exact, existing_nullable=False)


def downgrade() -> None:
    if op.get_context().dialect.name == "mysql":
        for (table, name), length in EXACT.items():
            op.alter_column(table, name, type_=sa.String(length), existing_nullable=False)
    op.execute(sa.text("DELETE FROM idempotency_keys"))
    with op.batch_alter_table("idempotency_keys") as keys:
        keys.drop_constraint("fk_idempotency_keys_owner_id_users", type_="foreignkey")
        keys.drop_index(keys.f("ix_idempotency_keys_owner_id"))
        keys.drop_constraint("pk_idempotency_keys", type_="primary")
        keys.create_primary_key("pk_idempotency_keys", ["key"])
        keys.drop_column("owner_id")
