"""The worker's own loops (a job's heartbeat, the count of the queue) end when told to, even
when the cancellation that tells them is lost: on Python 3.11, `asyncio.wait_for` inside a
Redis command can swallow one (CPython #86296), and a loop that missed it ran forever, holding
its job's end or the worker's shutdown.

The stand-ins below lose a cancellation for certain, as that bug does at random.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.core.settings import Settings
from {{ cookiecutter.package_name }}.ops import worker_metrics
from {{ cookiecutter.package_name }}.ops.worker import Resources, runner

pytestmark = pytest.mark.anyio


class LosesACancellation:
    """Awaits that lose the first cancellation reaching them, as asyncio.wait_for does on
    Python 3.11 when the command it awaits completes at that moment; the next goes through."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()  # a call is under way, its cancellation to be lost
        self.lost = 0

    async def call(self) -> None:
        self.reached.set()
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            if self.lost:
                raise
            self.lost += 1


class BeatenJob(LosesACancellation):
    """What the runner uses of saq's Job: `update`, its heartbeat."""

    key = "beaten"
    progress = 0.0

    async def update(self, **_: Any) -> None:
        await self.call()


async def short(context: Any, *, job: BeatenJob) -> str:
    await job.reached.wait()  # the beat is inside an update: its cancellation will be lost
    return "done"


async def test_a_job_ends_while_its_beat_loses_its_cancellation(settings: Settings) -> None:
    job = BeatenJob()
    run = runner(short, Resources(settings), beat_seconds=0)
    async with asyncio.timeout(5):
        assert await run({"job": job}, job=job) == "done"
    assert job.lost == 1


class LosingQueue(LosesACancellation):
    """What the count uses of saq's Queue: `count`."""

    async def count(self, kind: str) -> int:
        await self.call()
        return 0


async def test_the_count_of_the_queue_stops_while_losing_its_cancellation() -> None:
    queue, stopped = LosingQueue(), asyncio.Event()
    counting = asyncio.create_task(
        worker_metrics.count(queue, 0.5, stopped)  # type: ignore[arg-type]
    )
    await queue.reached.wait()
    stopped.set()
    counting.cancel()
    async with asyncio.timeout(5):
        await asyncio.wait({counting})
    assert queue.lost == 1
