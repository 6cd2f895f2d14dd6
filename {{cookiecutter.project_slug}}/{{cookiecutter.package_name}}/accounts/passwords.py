"""Password hashing with Argon2id (pwdlib), run in worker threads so the event loop stays free.

A hash takes tens of milliseconds of CPU by design; awaited on the loop, every other request
of the process would wait for it. argon2-cffi releases the GIL while it hashes. The cost comes
from the accounts' settings: OWASP's parameters by default, cheaper ones in the test suite.
Each hash holds its memory cost (19 MiB) while it runs, so at most PASSWORD_HASHES_IN_FLIGHT
run at once in a process; one more is refused at once (`Busy`) rather than queued.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from . import metrics
from .settings import AuthSettings

T = TypeVar("T")
MIN_LENGTH = 8
MAX_LENGTH = 256  # hashing cost grows with the length; no real password is longer
# The 10,000 most common passwords, most common first: the head of the list Django ships
# (django/contrib/auth/common-passwords.txt.gz, from Royce Williams' breach compilation).
COMMON = frozenset(
    gzip.decompress((Path(__file__).parent / "common-passwords.txt.gz").read_bytes())
    .decode()
    .split()
)


def problem(password: str) -> str | None:
    """Why `password` may not be chosen, or None: too short or long, or too easy to guess.

    The rules of OWASP ASVS 2.1: any character counts, no rule about which kinds, but no
    password from the common list (in any letter case) and none of one repeated character.
    """
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f"Choose a password of {MIN_LENGTH} to {MAX_LENGTH} characters."
    if password.casefold() in COMMON or password.strip().casefold() in COMMON:
        return "That password is among the most common ones; choose another."
    if len(set(password)) == 1:
        return "Choose a password that is not one character repeated."
    return None


class Busy(Exception):
    """As many passwords as the settings allow are being hashed already: try again shortly."""


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
        self.in_flight, self.most = 0, settings.password_hashes_in_flight
        self.threads = anyio.CapacityLimiter(self.most)
        # Verified when the email is unknown, so that answer takes as long as a wrong password.
        self.dummy = self.hasher.hash("not a password anyone has")

    async def run(self, work: Callable[..., T], *args: str) -> T:
        """`work(*args)` in a worker thread, or `Busy` if `most` are running already."""
        if self.in_flight >= self.most:
            raise Busy
        self.in_flight += 1
        try:
            with metrics.HASHES_IN_FLIGHT.track_inprogress():
                return await anyio.to_thread.run_sync(work, *args, limiter=self.threads)
        finally:
            self.in_flight -= 1

    async def hash(self, password: str) -> str:
        return await self.run(self.hasher.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """Whether `password` matches, and a new hash when the stored one used other parameters.

        With no stored hash (an unknown email) the same work is done, and the answer is False.
        """
        stored = self.dummy if password_hash is None else password_hash
        check = self.hasher.verify_and_update
        valid, updated = await self.run(check, password, stored)
        if password_hash is None:
            return False, None
        return valid, updated
