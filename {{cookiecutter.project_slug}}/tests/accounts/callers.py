"""Who the suite's requests act for: a user of their own, through a personal access token.

`caller` is the headers a test client sends (conftest's `client` fixture sends them, and so
does every test that makes a client of its own). The user and its token are written straight
into the test database, so a test pays no sign-up; tests/accounts/ signs in through the pages.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from {{ cookiecutter.package_name }}.accounts.users import create_token, create_user
from {{ cookiecutter.package_name }}.core.database import Database

# Argon2id at its cheapest for the suite's apps, set before any is made: the production cost
# is proved in tests/accounts/test_passwords.py.
os.environ["PASSWORD_MEMORY_KIB"] = "8"  # noqa: S105 - a cost, not a password
os.environ["PASSWORD_TIME_COST"] = "1"  # noqa: S105 - a cost, not a password
# No mail server but where a test starts one (tests/accounts/mailbox.py): mail is logged as
# not sent, as when one is down.
os.environ["SMTP_URL"] = "smtp://127.0.0.1:9"

_numbers = itertools.count(1)


@pytest.fixture
def caller(database_url: str) -> dict[str, str]:
    async def create() -> str:
        db = Database(database_url)
        try:
            user_id = await create_user(db, f"caller{next(_numbers)}@example.com", "not used")
            return (await create_token(db, user_id, "tests"))[1]
        finally:
            await db.disconnect()

    # In a thread of its own: the test may be inside an event loop already.
    with ThreadPoolExecutor(1) as thread:
        token = thread.submit(asyncio.run, create()).result()
    return {"Authorization": f"Bearer {token}"}
