"""The accounts' tables: users, their personal access tokens, spent WebSocket tickets, and the
links sent by mail."""

import sqlalchemy as sa

from ..core.metadata import Instant, exact, metadata

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # Stored as `users.normal_email` spells it and compared byte for byte (also on MySQL), so
    # exactly one spelling finds an account.
    sa.Column("email", exact(254), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column(
        "created_at",
        Instant(),
        nullable=False,
        server_default=sa.func.current_timestamp(),
    ),
    sa.Column("last_login_at", Instant(), nullable=True),
    # Each session cookie carries the value this had when it was issued; signing out adds one,
    # so every cookie issued before, copies included, stops working at once.
    sa.Column("session_version", sa.Integer, nullable=False, server_default=sa.text("0")),
    # When the owner followed the link mailed at sign-up; null: not yet (they may sign in).
    sa.Column("email_verified_at", Instant(), nullable=True),
)

# Only a SHA-256 of each token is stored: the token itself is shown once, when it is made.
# (A fast hash suffices: tokens are 256 random bits, not passwords someone could guess.)
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("digest", exact(64), nullable=False, unique=True),
    sa.Column(
        "created_at",
        Instant(),
        nullable=False,
        server_default=sa.func.current_timestamp(),
    ),
    # To the minute (`users.USE_RECORDED_EVERY`): not a write on every request the token makes.
    sa.Column("last_used_at", Instant(), nullable=True),
)

# The nonce of each WebSocket ticket used, until the ticket has expired: the primary key lets
# a ticket open one socket, whichever process the socket reaches (see tickets.py).
spent_tickets = sa.Table(
    "spent_tickets",
    metadata,
    sa.Column("nonce", exact(32), primary_key=True),
    sa.Column("expires_at", Instant(), nullable=False, index=True),
)

# The links mailed to users (links.py): a SHA-256 of each link's token, what it is for
# ("verify" or "reset"), until when it works, and when it was used: each works once.
email_links = sa.Table(
    "email_links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("digest", exact(64), nullable=False, unique=True),
    sa.Column("expires_at", Instant(), nullable=False),
    sa.Column("used_at", Instant(), nullable=True),
)
