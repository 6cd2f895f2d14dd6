"""Password hashing with Argon2id (pwdlib), run in worker threads so the event loop stays free.

A hash takes tens of milliseconds of CPU by design; awaited on the loop, every other request
of the process would wait for it. argon2-cffi releases the GIL while it hashes.
"""

from __future__ import annotations

import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

# OWASP's recommended Argon2id parameters: 19 MiB of memory, two passes, one lane. Hashes made
# with other parameters still verify, and are replaced at the next sign-in.
HASHER = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19 * 1024, parallelism=1),))
MIN_LENGTH = 8
MAX_LENGTH = 256  # hashing cost grows with the length; no real password is longer

# Verified when the email is unknown, so that answer takes as long as a wrong password.
_DUMMY = HASHER.hash("not a password anyone has")


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(HASHER.hash, password)


async def verify(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Whether `password` matches, and a new hash when the stored one used older parameters.

    With no stored hash (an unknown email) the same work is done, and the answer is False.
    """
    stored = _DUMMY if password_hash is None else password_hash
    valid, updated = await anyio.to_thread.run_sync(HASHER.verify_and_update, password, stored)
    if password_hash is None:
        return False, None
    return valid, updated
