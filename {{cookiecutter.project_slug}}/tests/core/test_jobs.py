"""The job queue without a queue (JOBS_URL=memory://): jobs run as tasks of the app's process,
their state is kept for a while and bounded, and a full queue is refused."""

from __future__ import annotations

import asyncio
import json

import pytest

from {{ cookiecutter.package_name }}.core import jobs_memory
from {{ cookiecutter.package_name }}.core.database import Database
from {{ cookiecutter.package_name }}.core.events import Events
from {{ cookiecutter.package_name }}.core.jobs import Context, JobFailed, Periodic, QueueFull
from {{ cookiecutter.package_name }}.core.jobs_memory import Jobs
from {{ cookiecutter.package_name }}.core.settings import Settings

pytestmark = pytest.mark.anyio


async def double(context: Context, *, number: int, caller: dict[str, int]) -> int:
    await context.progress(0.5)
    return 2 * number


async def fail(context: Context) -> None:
    raise RuntimeError("this job fails")


async def refuse(context: Context) -> None:
    raise JobFailed("the mail server is down")


async def wait_forever(context: Context) -> None:
    await asyncio.Event().wait()


@pytest.fixture
async def queue(settings: Settings) -> Jobs:
    queue = Jobs(settings, [double, fail, refuse, wait_forever], [])
    events = Events("memory://")
    await events.connect()
    await queue.connect(Database(settings.database_url), events)
    return queue


async def test_a_job_runs_and_tells_its_caller(queue: Jobs) -> None:
    assert queue.context is not None
    events = queue.context[1]
    async with events.subscribe() as heard:
        await queue.enqueue(double, "doubling", number=21, caller={"owner_id": 7})
        await queue.idle()
        progress, done = [json.loads(await anext(heard)) for _ in range(2)]
    await queue.disconnect()

    job = await queue.job("doubling")
    assert job is not None and (job.status, job.result, job.progress) == ("complete", 42, 1.0)
    assert progress["type"] == "job.progress" and progress["job"]["progress"] == 0.5
    assert done == {**done, "type": "job.done", "owner_id": 7}
    assert done["job"] == {"key": "doubling", "status": "complete"}


async def test_a_job_kept_no_time_is_forgotten_as_it_ends(queue: Jobs) -> None:
    await queue.enqueue(double, "forgotten", keep_seconds=0, number=1, caller={})
    await queue.enqueue(double, "kept", number=2, caller={})
    waiting = await queue.job("forgotten")
    assert waiting is not None and waiting.status in ("queued", "active")
    await queue.idle()
    await queue.disconnect()
    assert await queue.job("forgotten") is None  # arguments and result gone with it
    assert await queue.job("kept") is not None


async def test_a_failed_job_is_marked_failed(queue: Jobs) -> None:
    await queue.enqueue(fail, "failing")
    await queue.idle()
    await queue.disconnect()
    job = await queue.job("failing")
    assert job is not None and job.status == "failed"


async def test_an_expected_failure_is_logged_without_a_traceback(
    queue: Jobs, caplog: pytest.LogCaptureFixture
) -> None:
    await queue.enqueue(refuse, "refusing")
    await queue.enqueue(fail, "failing")
    await queue.idle()
    await queue.disconnect()
    logged = {record.getMessage(): record.exc_info for record in caplog.records}
    assert logged["Job refusing failed: the mail server is down"] is None
    assert logged["Job failing failed"] is not None  # a bug keeps its traceback


async def test_a_full_queue_refuses_more(queue: Jobs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs_memory, "RUNNING_AT_MOST", 2)
    for number in range(2):
        await queue.enqueue(wait_forever, f"waiting {number}")
    with pytest.raises(QueueFull, match="2 jobs are running already"):
        await queue.enqueue(wait_forever, "one too many")
    await queue.disconnect()


async def test_the_jobs_remembered_are_bounded(
    queue: Jobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs_memory, "KEPT", 3)
    for number in range(5):
        await queue.enqueue(double, f"job {number}", number=number, caller={})
    await queue.idle()
    await queue.disconnect()
    assert [await queue.job(f"job {number}") is None for number in range(5)] == [
        True,
        True,
        False,
        False,
        False,
    ]


def test_a_schedule_divides_the_hour() -> None:
    assert Periodic(fail, 15).minutes == 15
    with pytest.raises(ValueError, match="7 minutes does not divide an hour"):
        Periodic(fail, 7)
