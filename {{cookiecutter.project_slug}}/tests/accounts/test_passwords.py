from __future__ import annotations

import asyncio
import time

import pytest

from {{ cookiecutter.package_name }}.accounts.passwords import Busy, Passwords
from {{ cookiecutter.package_name }}.accounts.settings import AuthSettings

pytestmark = pytest.mark.anyio
KEY = "k" * 16 + "abcdefghijklmnopqrstuvwxyz"


def production(monkeypatch: pytest.MonkeyPatch) -> Passwords:
    """Hashing as a deployed app does it: the settings' defaults, not the suite's cheap cost."""
    monkeypatch.delenv("PASSWORD_MEMORY_KIB", raising=False)
    monkeypatch.delenv("PASSWORD_TIME_COST", raising=False)
    return Passwords(AuthSettings(_env_file=None, secret_key=KEY))


async def test_production_hashes_are_argon2id_with_owasps_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored = await production(monkeypatch).hash("correct horse")

    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_a_hash_verifies_only_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    passwords = production(monkeypatch)
    stored = await passwords.hash("correct horse")

    assert await passwords.verify("correct horse", stored) == (True, None)
    assert (await passwords.verify("wrong horse", stored))[0] is False
    assert await passwords.verify("correct horse", None) == (False, None)  # no account: hashed


async def test_a_hash_with_other_parameters_is_replaced_at_the_next_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cheap = Passwords(AuthSettings(_env_file=None, secret_key=KEY, password_memory_kib=8))
    old = await cheap.hash("correct horse")

    valid, replacement = await production(monkeypatch).verify("correct horse", old)

    assert valid and replacement is not None
    assert replacement.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_hashing_leaves_the_event_loop_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """While logins hash, the loop keeps answering: no tick waits for the hashes."""
    passwords = production(monkeypatch)
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    for n in range(4):  # as many at once as the default PASSWORD_HASHES_IN_FLIGHT, 2
        await asyncio.gather(*(passwords.hash(f"password {n}.{m}") for m in range(2)))
    hashing = time.perf_counter() - started
    ticker.cancel()

    # On the loop, one tick would wait for all eight hashes, the whole time they take; off it,
    # ticks go on throughout (however busy the machine, no gap comes near the whole).
    assert len(gaps) > 8
    assert max(gaps) < hashing / 2


async def test_a_hash_past_the_cap_is_refused_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    passwords = production(monkeypatch)
    cap = passwords.most

    results = await asyncio.gather(
        *(passwords.hash(f"password {n}") for n in range(cap + 1)), return_exceptions=True
    )

    assert sum(isinstance(result, Busy) for result in results) == 1
    assert sum(isinstance(result, str) for result in results) == cap
