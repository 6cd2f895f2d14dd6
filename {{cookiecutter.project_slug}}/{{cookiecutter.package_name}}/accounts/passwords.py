"""Password hashing with Argon2id (pwdlib), run in worker threads so the event loop stays free.

A hash takes tens of milliseconds of CPU by design; awaited on the loop, every other request
of the process would wait for it. argon2-cffi releases the GIL while it hashes. The cost comes
from the accounts' settings: OWASP's parameters by default, cheaper ones in the test suite.
"""

from __future__ import annotations

import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from . import metrics
from .settings import AuthSettings

MIN_LENGTH = 8
MAX_LENGTH = 256  # hashing cost grows with the length; no real password is longer


class Passwords:
    """Hashes and checks passwords with the settings' Argon2id parameters. Hashes made with
    other parameters still verify, and `verify` returns their replacement."""

    def __init__(self, settings: AuthSettings) -> None:
        hasher = Argon2Hasher(
            time_cost=settings.password_time_cost,
            memory_cost=settings.password_memory_kib,
            parallelism=1,
        )
        self.hasher = PasswordHash((hasher,))
        # Verified when the email is unknown, so that answer takes as long as a wrong password.
        self.dummy = self.hasher.hash("not a password anyone has")

    async def hash(self, password: str) -> str:
        with metrics.HASHES_IN_FLIGHT.track_inprogress():
            return await anyio.to_thread.run_sync(self.hasher.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """Whether `password` matches, and a new hash when the stored one used other parameters.

        With no stored hash (an unknown email) the same work is done, and the answer is False.
        """
        stored = self.dummy if password_hash is None else password_hash
        check = self.hasher.verify_and_update
        with metrics.HASHES_IN_FLIGHT.track_inprogress():
            valid, updated = await anyio.to_thread.run_sync(check, password, stored)
        if password_hash is None:
            return False, None
        return valid, updated
