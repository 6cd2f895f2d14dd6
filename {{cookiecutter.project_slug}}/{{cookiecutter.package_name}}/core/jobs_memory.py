"""JOBS_URL=memory://: no queue. Each job runs as a task of the web process that enqueued
it, once, without retries, and is lost if that process stops; the periodic ones run on its
timers. A job's state is known to that process only. The template's `jobs=redis` or
`jobs=postgres` option adds a queue a worker process serves (jobs_saq.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from .database import Database
from .events import Events
from .jobs import Context, Function, Job, JobFailed, Periodic, QueueFull, name_of, tell
from .settings import Settings

logger = logging.getLogger(__name__)

KEPT = 1000  # finished jobs remembered (the oldest are forgotten first), so memory is bounded
RUNNING_AT_MOST = 100  # jobs running at once; more are refused (`QueueFull`)


class Jobs:
    """Runs each job as a task, remembers the last `KEPT`, and runs the periodic ones."""

    backend = "memory"

    def __init__(
        self, settings: Settings, functions: Iterable[Function], periodic: Iterable[Periodic]
    ) -> None:
        self.settings = settings
        self.functions = {name_of(function): function for function in functions}
        self.periodic = list(periodic)
        self.jobs: OrderedDict[str, tuple[Job, float]] = OrderedDict()  # key -> job, expiry
        self.tasks: set[asyncio.Task[None]] = set()
        self.context: tuple[Database, Events] | None = None

    async def connect(self, database: Database, events: Events) -> None:
        self.context = (database, events)
        for entry in self.periodic:
            self._start(self._every(entry), "periodic")

    async def disconnect(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def ping(self) -> None:
        """Raise if the queue cannot take jobs; here it always can."""

    async def enqueue(
        self,
        function: Function,
        key: str | None = None,
        *,
        keep_seconds: float = 600,
        **arguments: Any,
    ) -> None:
        """Run `function(context, **arguments)` soon; a `key` already queued or running is left."""
        name = name_of(function)
        if name not in self.functions:
            raise LookupError(f"{name} is not a job: list it in features.jobs()")
        key = key or f"{name}:{time.monotonic_ns()}"
        known = self.jobs.get(key)
        if known and known[0].status in ("queued", "active"):
            return
        if sum(1 for task in self.tasks if not task.done()) >= RUNNING_AT_MOST + len(self.periodic):
            raise QueueFull(f"{RUNNING_AT_MOST} jobs are running already")
        job = Job(key, name, "queued", 0.0, arguments)
        self._remember(job, keep_seconds)
        self._start(self._run(job, keep_seconds), "job")

    async def idle(self) -> None:
        """Wait until no job runs (the periodic ones aside): for tests."""
        while running := [task for task in self.tasks if task.get_name() == "job"]:
            await asyncio.wait(running)

    async def job(self, key: str) -> Job | None:
        known = self.jobs.get(key)
        if known is None or known[1] < time.monotonic():
            return None
        return known[0]

    async def _run(self, job: Job, keep_seconds: float) -> None:
        if self.context is None:
            raise RuntimeError("a job was enqueued before the queue was connected")
        database, events, key = *self.context, job.key

        def update(**changes: Any) -> None:
            nonlocal job
            job = replace(job, **changes)
            self._remember(job, keep_seconds)

        async def progress(fraction: float) -> None:
            update(progress=min(max(fraction, 0.0), 1.0))
            await tell(events, "job.progress", key, job.arguments, progress=job.progress)

        update(status="active")
        try:
            result = await self.functions[job.function](
                Context(self.settings, database, events, progress), **job.arguments
            )
        except JobFailed as exc:
            logger.warning("Job %s failed: %s", key, exc)
            update(status="failed")
        except Exception:
            logger.exception("Job %s failed", key)
            update(status="failed")
        else:
            update(status="complete", progress=1.0, result=result)
        await tell(events, "job.done", key, job.arguments, status=job.status)

    async def _every(self, entry: Periodic) -> None:
        while True:
            await asyncio.sleep(entry.minutes * 60)
            await self.enqueue(entry.function, f"periodic:{name_of(entry.function)}")

    def _remember(self, job: Job, keep_seconds: float) -> None:
        """Known while it waits or runs; once ended, for `keep_seconds` (0: forgotten at once)."""
        if job.status in ("queued", "active"):
            self.jobs[job.key] = (job, float("inf"))
        elif keep_seconds > 0:
            self.jobs[job.key] = (job, time.monotonic() + keep_seconds)
        else:
            self.jobs.pop(job.key, None)
            return
        self.jobs.move_to_end(job.key)
        while len(self.jobs) > KEPT:
            self.jobs.popitem(last=False)

    def _start(self, work: Any, name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
