"""A job queue: saq, on Redis or PostgreSQL (JOBS_URL), served by `scripts/worker`.

The web process enqueues (after its transaction has committed: saq keeps its queue through
its own connections, so a job cannot join the request's transaction) and reads a job's state;
the worker (ops/worker.py) runs the jobs, retries a failed one with backoff, and runs the
periodic ones. A job whose worker dies (kill -9, a lost host) stops beating and is run again
by another worker once JOB_HEARTBEAT_SECONDS have passed; on SIGTERM a worker lets its running
jobs finish for WORKER_GRACE_SECONDS, then puts them back in the queue.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Iterable
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from saq import Queue
from saq.job import Job as SaqJob
from saq.job import Status as SaqStatus

from .database import Database
from .events import Events
from .jobs import Function, Job, JobFailed, Periodic, QueueFull, QueueUnavailable, Status, name_of
from .settings import Settings, SettingsError, sentence

logger = logging.getLogger(__name__)


class Abridged(logging.Filter):
    """saq's log lines without a job's arguments, which may be secret (a mail's message holds
    its link), and a job's expected failure (JobFailed) without its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                argument.info() if isinstance(argument, SaqJob) else argument
                for argument in record.args
            )
        if record.exc_info and isinstance(record.exc_info[1], JobFailed):
            record.msg = f"{record.msg}: %s"
            arguments = record.args if isinstance(record.args, tuple) else ()
            record.args = (*arguments, record.exc_info[1])
            record.exc_info, record.levelno, record.levelname = None, logging.WARNING, "WARNING"
        return True


logging.getLogger("saq").addFilter(Abridged())

STATUSES: dict[SaqStatus, Status] = {
    SaqStatus.NEW: "queued",
    SaqStatus.QUEUED: "queued",
    SaqStatus.ACTIVE: "active",
    SaqStatus.ABORTING: "active",
    SaqStatus.COMPLETE: "complete",
    SaqStatus.FAILED: "failed",
    SaqStatus.ABORTED: "failed",
}


class JobsSettings(BaseSettings):
    """The variables of the job queue and its worker (see .env.example)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    jobs_queue: str = Field("default", pattern=r"^[A-Za-z0-9_.:-]{1,63}$")
    jobs_queued_max: int = Field(10_000, ge=1)
    job_timeout_seconds: int = Field(300, ge=1, le=24 * 3600)
    job_attempts: int = Field(3, ge=1, le=100)
    job_retry_delay_seconds: float = Field(1.0, ge=0, le=3600)
    job_heartbeat_seconds: int = Field(30, ge=1, le=3600)
    worker_concurrency: int = Field(10, ge=1, le=1000)
    worker_grace_seconds: int = Field(25, ge=0, le=3600)
    worker_sweep_seconds: int = Field(5, ge=1, le=600)
    # The worker's /metrics (ops/worker_metrics.py), on the host the web server binds (HOST).
    worker_metrics_port: int = Field(9091, ge=1, le=65535)
    host: str = "0.0.0.0"  # noqa: S104 - scripts/start's default too; HOST narrows it


def load_jobs_settings() -> JobsSettings:
    try:
        return JobsSettings()
    except ValidationError as exc:
        raise SettingsError(sentence(exc)) from None


def saq_queue(settings: Settings, config: JobsSettings) -> Queue:
    """saq's queue at JOBS_URL."""
    url = settings.jobs_url.replace("postgres://", "postgresql://", 1)
    if url.startswith("redis"):
        # Imported by name: only a project made with jobs=redis has it (and redis-py).
        found = importlib.import_module(".jobs_redis", __package__)
        queue: Queue = found.RedisQueue.from_url(url, name=config.jobs_queue)
        return queue
    return Queue.from_url(url, name=config.jobs_queue)


class Jobs:
    """The web process's side of the queue: enqueue, and read a job's state."""

    def __init__(
        self, settings: Settings, functions: Iterable[Function], periodic: Iterable[Periodic]
    ) -> None:
        self.settings = settings
        self.functions = {name_of(function) for function in functions}
        self.config = load_jobs_settings()
        self.queue = saq_queue(settings, self.config)
        self.backend = self.queue.__class__.__name__.removesuffix("Queue").lower()
        self.options = {  # of every job: how long, how often, how soon again, how alive
            "timeout": self.config.job_timeout_seconds,
            "retries": self.config.job_attempts,
            "retry_delay": self.config.job_retry_delay_seconds,
            "retry_backoff": True,
            "heartbeat": self.config.job_heartbeat_seconds,
        }

    async def connect(self, database: Database, events: Events) -> None:
        # The app starts when the queue is down: readiness reports it, enqueueing fails (503)
        # and connects again.
        try:
            await self._connected()
        except Exception as exc:  # any driver's: it is only reported here
            logger.warning("The job queue is unreachable: %r", exc)

    async def disconnect(self) -> None:
        await self.queue.disconnect()

    async def ping(self) -> None:
        """Raise unless the queue answers."""
        await self._connected()
        async with asyncio.timeout(self.settings.readiness_timeout):
            await self.queue.count("queued")

    async def _connected(self) -> None:
        async with asyncio.timeout(self.settings.readiness_timeout):
            await self.queue.connect()  # once: saq's queues remember it

    async def enqueue(
        self,
        function: Function,
        key: str | None = None,
        *,
        keep_seconds: float = 600,
        **arguments: Any,
    ) -> None:
        """Queue `function(context, **arguments)`; a `key` already queued or running is left."""
        name = name_of(function)
        if name not in self.functions:
            raise LookupError(f"{name} is not a job: list it in features.jobs()")
        try:
            await self._connected()
            waiting = await self.queue.count("queued")
            if waiting < self.config.jobs_queued_max:
                await self.queue.enqueue(
                    name,
                    key=key,
                    ttl=max(1, int(keep_seconds)) if keep_seconds > 0 else -1,  # -1: deleted
                    **{
                        **self.options,
                        **arguments,
                    },
                )
                return
        except Exception as exc:  # any driver's failure to reach the queue
            raise QueueUnavailable(f"the job queue ({self.backend}) is unreachable") from exc
        raise QueueFull(f"{self.config.jobs_queued_max} jobs are waiting already")

    async def job(self, key: str) -> Job | None:
        try:
            await self._connected()
            found = await self.queue.job(key)
        except Exception as exc:  # any driver's failure to reach the queue
            raise QueueUnavailable(f"the job queue ({self.backend}) is unreachable") from exc
        if found is None:
            return None
        return Job(
            key=found.key,
            function=found.function,
            status=STATUSES[found.status],
            progress=found.progress,
            arguments=found.kwargs or {},
            result=found.result,
        )
