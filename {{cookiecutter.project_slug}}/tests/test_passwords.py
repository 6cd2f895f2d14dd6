from __future__ import annotations

import asyncio
import time

import pytest

from {{ cookiecutter.package_name }}.passwords import HASHER, hash_password, verify

pytestmark = pytest.mark.anyio


async def test_a_hash_verifies_only_its_password() -> None:
    stored = await hash_password("correct horse")

    assert stored.startswith("$argon2id$")
    assert await verify("correct horse", stored) == (True, None)
    assert (await verify("wrong horse", stored))[0] is False
    assert await verify("correct horse", None) == (False, None)  # no account: still hashed


async def test_hashing_leaves_the_event_loop_free() -> None:
    """While logins hash, the loop keeps answering: no tick waits for a whole hash."""
    started = time.perf_counter()
    HASHER.hash("one hash, for scale")
    one_hash = time.perf_counter() - started
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.gather(*(hash_password(f"password {n}") for n in range(8)))
    ticker.cancel()

    # On the loop, one tick would wait for all eight hashes; off it, ticks keep their pace
    # (the longest, while the worker threads start, stays well under the eight).
    assert len(gaps) > 8
    assert sorted(gaps)[len(gaps) // 2] < 0.005
    assert max(gaps) < 4 * one_hash
