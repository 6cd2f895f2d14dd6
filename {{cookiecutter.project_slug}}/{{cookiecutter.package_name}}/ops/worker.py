"""The worker process: runs the jobs of features.py from the queue (core/jobs_saq.py), and the
periodic ones on their schedule. `scripts/worker` starts it; `scripts/worker --check` says
whether a worker of this host is alive and how many jobs wait, for probes and people.

Each job gets a `Context` with the worker's own database pool and event broker. While a job
runs, the worker beats for it every third of JOB_HEARTBEAT_SECONDS: a job that stops beating
(its worker killed) is run again by another worker, up to JOB_ATTEMPTS in all. SIGTERM or
SIGINT stops taking jobs, lets the running ones finish within WORKER_GRACE_SECONDS, then
cancels them and puts them back in the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from saq import CronJob, Queue, Worker
from saq.job import Job as SaqJob
from saq.types import Context as SaqContext
from saq.types import PartialTimersDict

from .. import features
from ..core import logs
from ..core.database import Database
from ..core.events import Events
from ..core.jobs import Context, Function, Periodic, name_of, tell
from ..core.jobs_saq import STATUSES, JobsSettings, load_jobs_settings, saq_queue
from ..core.settings import Settings, SettingsError, load
from . import worker_metrics
from .worker_metrics import JOB_DURATION, JOBS_ENDED, JOBS_RUNNING

logger = logging.getLogger(f"{__package__}.worker")  # not __main__, which it is when run

SaqFunction = Callable[..., Awaitable[Any]]


class StoppingWorker(Worker[SaqContext]):
    """saq's worker, whose stop waits for the running jobs only: saq's own stop also waits for
    its upkeep loops (the sweep, the worker's info) to wake from their sleep, which could hold
    a stopped worker for WORKER_SWEEP_SECONDS or the whole grace period after its jobs ended."""

    upkept: list[asyncio.Task[None]]

    async def upkeep(self) -> list[asyncio.Task[None]]:
        self.upkept = await super().upkeep()
        return self.upkept

    async def stop(self) -> None:
        self.event.set()  # the loops see it and end, a cancellation lost or not
        for task in getattr(self, "upkept", []):
            task.cancel()
        await super().stop()


class Resources:
    """What the worker opens for its jobs at start-up, and closes at the end."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.database = Database(
            settings.database_url,
            min_size=settings.database_pool_min,
            max_size=settings.database_pool_max,
            timeout=settings.database_timeout,
        )
        self.events = Events(
            settings.broadcast_url, settings.broadcast_channel, settings.broadcast_timeout
        )

    async def open(self, _: SaqContext) -> None:
        await self.database.connect()
        await self.events.connect()

    async def close(self, _: SaqContext) -> None:
        await self.events.disconnect()
        await self.database.disconnect()

    async def ended(self, ctx: SaqContext) -> None:
        """After each attempt: tell the caller of a job that has ended (not one retried)."""
        job = ctx.get("job")
        if job is None:
            return
        status = STATUSES[job.status]
        outcome = status if status in ("complete", "failed") else "retried"
        JOBS_ENDED.labels(job.function, outcome).inc()
        if outcome == "retried":
            return
        arguments = job.kwargs or {}
        await tell(self.events, "job.done", job.key, arguments, status=STATUSES[job.status])


def runner(function: Function, resources: Resources, beat_seconds: float) -> SaqFunction:
    """`function` as saq calls it, under its own name, beating while it runs."""

    async def run(ctx: SaqContext, **arguments: Any) -> Any:
        job: SaqJob = ctx["job"]

        async def progress(fraction: float) -> None:
            await job.update(progress=min(max(fraction, 0.0), 1.0))
            await tell(resources.events, "job.progress", job.key, arguments, progress=job.progress)

        async def beat() -> None:
            while not finished.is_set():
                await asyncio.sleep(beat_seconds)
                with suppress(Exception):  # a missed beat only brings the sweep nearer
                    await job.update()

        # The beat ends when the job does, not only when cancelled: on Python 3.11 a
        # cancellation can be lost inside a Redis command (asyncio.wait_for, CPython #86296),
        # and a beat that lost its own would hold the job's end forever.
        finished = asyncio.Event()
        beating = asyncio.create_task(beat())
        context = Context(resources.settings, resources.database, resources.events, progress)
        JOBS_RUNNING.inc()
        try:
            with JOB_DURATION.labels(name_of(function)).time():
                return await function(context, **arguments)
        finally:
            JOBS_RUNNING.dec()
            finished.set()
            beating.cancel()
            await asyncio.wait({beating})

    run.__qualname__ = run.__name__ = name_of(function)
    return run


def cron(entry: Periodic) -> str:
    return "0 * * * *" if entry.minutes == 60 else f"*/{entry.minutes} * * * *"


def worker_id() -> str:
    # No colon: saq's Redis queue takes what follows the last one in a key for the id.
    return f"{socket.gethostname()}/{os.getpid()}"


Jobs = tuple[list[Function], list[Periodic]]


def build(settings: Settings, config: JobsSettings, jobs: Jobs) -> StoppingWorker:
    resources = Resources(settings)
    functions, periodic = jobs
    beat = config.job_heartbeat_seconds / 3
    runners = {name_of(function): runner(function, resources, beat) for function in functions}
    schedule = [
        CronJob(
            runners[name_of(entry.function)],
            cron=cron(entry),
            timeout=config.job_timeout_seconds,
            heartbeat=config.job_heartbeat_seconds,
            retries=config.job_attempts,
        )
        for entry in periodic
    ]
    timers: PartialTimersDict = {
        "sweep": config.worker_sweep_seconds,
        "worker_info": 5,
        "schedule": 1,
        "abort": 1,
    }
    return StoppingWorker(
        saq_queue(settings, config),
        functions=list(runners.values()),
        id=worker_id(),
        concurrency=config.worker_concurrency,
        cron_jobs=schedule,
        startup=resources.open,
        shutdown=resources.close,
        after_process=resources.ended,
        timers=timers,
        # A worker waiting for work looks up from the queue every second, so a stop is quick.
        dequeue_timeout=1,
        shutdown_grace_period_s=config.worker_grace_seconds,
    )


async def work(worker: Worker[SaqContext], config: JobsSettings) -> None:
    await worker.queue.connect()
    stopped = asyncio.Event()  # as a job's beat: a cancellation alone may be lost
    counting = asyncio.create_task(
        worker_metrics.count(worker.queue, config.worker_sweep_seconds, stopped)
    )
    try:
        await worker.start()
    finally:
        stopped.set()
        counting.cancel()
        await asyncio.wait({counting})
        await worker.queue.disconnect()


async def check(queue: Queue) -> int:
    """0 if a worker of this host has written its info lately (saq: every 5 s, kept 60 s)."""
    await queue.connect()
    try:
        info = await queue.info()
    finally:
        await queue.disconnect()
    host = f"{socket.gethostname()}/"
    alive = [worker for worker in info["workers"] if worker.startswith(host)]
    print(
        f"workers on this host: {len(alive)}, on all: {len(info['workers'])}; "
        f"jobs queued: {info['queued']}, running: {info['active']}"
    )
    return 0 if alive else 1


def main(arguments: list[str], jobs: Jobs | None = None) -> int:
    """The worker of `jobs` (default: the features' jobs), or `--check`."""
    parser = argparse.ArgumentParser(prog="scripts/worker", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="is a worker of this host alive?")
    options = parser.parse_args(arguments)
    try:
        settings, config = load(), load_jobs_settings()
    except SettingsError as exc:
        sys.exit(f"Cannot start: {exc}")
    if settings.jobs_url.startswith("memory:"):
        sys.exit(
            "Cannot start: JOBS_URL=memory:// runs jobs in the web process; a worker needs "
            "a queue: JOBS_URL=redis://... or postgresql://..."
        )
    logs.configure(settings.debug)
    if options.check:
        return asyncio.run(check(saq_queue(settings, config)))
    worker_metrics.serve(settings, config)
    asyncio.run(work(build(settings, config, jobs or features.jobs()), config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
