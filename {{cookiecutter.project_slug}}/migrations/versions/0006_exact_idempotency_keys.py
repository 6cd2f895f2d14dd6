"""Idempotency keys compare byte for byte on MySQL and MariaDB too ("Key" is not "key").

Revision ID: 0006
Revises: 0005 with accounts, 0003 without
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0006"
# The newest revision before this one: the accounts' own (0004, 0005) when the project has them.
down_revision: str | None = "{{ '0005' if cookiecutter.auth == 'users' else '0003' }}"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {"key": 200, "request": 64}


def upgrade() -> None:
    if op.get_context().dialect.name != "mysql":  # the others compare exactly already
        return
    for name, length in COLUMNS.items():
        exact = mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin")
        op.alter_column("idempotency_keys", name, type_=exact, existing_nullable=False)


def downgrade() -> None:
    if op.get_context().dialect.name != "mysql":
        return
    for name, length in COLUMNS.items():
        # Back to the database's default collation, as 0002 made them.
        op.alter_column("idempotency_keys", name, type_=sa.String(length), existing_nullable=False)
