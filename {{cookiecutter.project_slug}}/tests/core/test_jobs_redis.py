"""The Redis queue's sweep (core/jobs_redis.py), on the machine's Redis: a job a worker has
only just taken is spared, and swept only if the next sweep finds it unchanged."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from saq import Queue
from saq.job import Status
from saq.utils import now

from {{ cookiecutter.package_name }}.core.jobs_redis import RedisQueue

from ..conftest import JOBS_URL

pytestmark = pytest.mark.anyio


@pytest.fixture
async def queue() -> AsyncIterator[Queue]:
    if not JOBS_URL.startswith("redis"):
        pytest.fail("JOBS_URL names no Redis queue; set it in .env (see .env.example).")
    queue = RedisQueue.from_url(JOBS_URL, name=f"test-{uuid.uuid4().hex[:12]}")
    assert isinstance(queue, RedisQueue)  # this project's, with its sweep
    await queue.connect()
    yield queue
    await queue.disconnect()


# saq's abort of a swept job calls redis-py's setex, which redis-py 8 deprecates.
@pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")
async def test_a_job_just_taken_is_spared_then_swept_if_its_worker_died(
    queue: Queue,
) -> None:
    job = await queue.enqueue("hold", timeout=300, heartbeat=30, retries=2)
    assert job is not None
    # A worker takes it: moved to the active list; marking it active comes next.
    taken = await queue.dequeue(1)
    assert taken is not None and taken.key == job.key and taken.status == Status.QUEUED

    assert await queue.sweep(lock=1, abort=0.1) == []  # neither abandoned nor stuck yet
    spared = await queue.job(job.key)
    assert spared is not None and spared.status == Status.QUEUED

    await asyncio.sleep(1.1)  # the sweep's lock expires: the next sweep may run
    assert await queue.sweep(lock=1, abort=0.1) == [job.id]  # unchanged: its worker died
    again = await queue.job(job.key)
    assert again is not None and again.status == Status.QUEUED  # back in the queue, retried
    assert await queue.count("queued") == 1


async def test_a_job_its_worker_marked_active_meanwhile_is_not_swept(queue: Queue) -> None:
    job = await queue.enqueue("hold", timeout=300, heartbeat=30, retries=2)
    assert job is not None
    taken = await queue.dequeue(1)
    assert taken is not None
    assert await queue.sweep(lock=1, abort=0.1) == []
    await taken.update(status=Status.ACTIVE, started=now())  # as the worker does
    await asyncio.sleep(1.1)
    assert await queue.sweep(lock=1, abort=0.1) == []
    running = await queue.job(job.key)
    assert running is not None and running.status == Status.ACTIVE
