"""Jobs: work done after the response. What a job function is given, what the API shows of a
job, and the schedule of periodic ones. `queue.py` runs them.

A job is an `async def name(context: Context, **arguments) -> JSON` listed in features.py;
`await request.state.jobs.enqueue(name, key, **arguments)` runs it later. Its arguments and
its result are JSON. A job may run more than once (a retry, a worker killed mid-job), so it
must give the same outcome when run again: write under a key of its own, never append.

A job enqueued with a `caller` argument (`scoping.of(request)`) is that caller's: its sockets
hear `job.progress` as it goes and `job.done` once it has ended (see `tell`).
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .database import Database
from .events import Events
from .settings import QUEUES, Settings

Status = Literal["queued", "active", "complete", "failed"]
CALLER = "caller"  # the argument that makes a job its caller's


class JobFailed(Exception):
    """A job's expected failure (a mail server down, say), which it raises to be retried; its
    message says what failed, and it is logged without a traceback."""


class QueueFull(Exception):
    """Too many jobs are waiting; the message says so. The API answers 503."""


class QueueUnavailable(Exception):
    """The queue cannot be reached; the message says which. The API answers 503."""


@dataclass(frozen=True)
class Context:
    """What a job function gets besides its arguments: the app's resources, and `progress`
    to report how far it is (0 to 1), which also tells the queue it is still alive."""

    settings: Settings
    database: Database
    events: Events
    progress: Callable[[float], Awaitable[None]]


Function = Callable[..., Awaitable[Any]]  # async def name(context: Context, **arguments)


@dataclass(frozen=True)
class Periodic:
    """A job run every `minutes` minutes (a divisor of 60), on no arguments."""

    function: Function
    minutes: int

    def __post_init__(self) -> None:
        if self.minutes < 1 or 60 % self.minutes:
            raise ValueError(f"{self.minutes} minutes does not divide an hour")


@dataclass(frozen=True)
class Job:
    """What the API shows of a job: where it is, its arguments and, once complete, its result."""

    key: str
    function: str
    status: Status
    progress: float
    arguments: dict[str, Any] = field(default_factory=dict)
    result: Any = None


class Queue(Protocol):
    """What the app and its endpoints use of the queue; see jobs_memory.py and jobs_saq.py.

    `job(key)` knows a job while it waits or runs, and for `keep_seconds` once it has ended;
    0 forgets it as it ends, arguments and result (mail: its arguments hold a link that signs
    in or sets a password).
    """

    backend: str

    async def connect(self, database: Database, events: Events) -> None: ...
    async def disconnect(self) -> None: ...
    async def ping(self) -> None: ...
    async def enqueue(
        self,
        function: Function,
        key: str | None = None,
        *,
        keep_seconds: float = 600,
        **arguments: Any,
    ) -> None: ...
    async def job(self, key: str) -> Job | None: ...


def open_queue(
    settings: Settings, functions: Iterable[Function], periodic: Iterable[Periodic]
) -> Queue:
    """The queue JOBS_URL names (its module, from settings.QUEUES): memory:// runs the jobs in
    this process (jobs_memory.py); redis:// and postgresql:// hand them to a worker."""
    module = QUEUES[settings.jobs_url.partition("://")[0]] or "jobs_memory"
    # Imported by name: a project made without a queue has no jobs_saq.py.
    found = importlib.import_module(f".{module}", __package__)
    queue: Queue = found.Jobs(settings, functions, periodic)
    return queue


def name_of(function: Function) -> str:
    """The name a job function is enqueued and registered by."""
    return function.__qualname__


async def tell(
    events: Events, kind: str, key: str, arguments: Mapping[str, Any], **fields: Any
) -> None:
    """Publish `kind` (job.progress, job.done) about job `key` to its caller's sockets, if it
    has a caller; live.py sends an event to the sockets that may see it only."""
    caller = arguments.get(CALLER)
    if caller is None:
        return
    event = {"id": f"{random.getrandbits(128):032x}", "type": kind, "job": {"key": key, **fields}}
    await events.publish({**event, **caller})
