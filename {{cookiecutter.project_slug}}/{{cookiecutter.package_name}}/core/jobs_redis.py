"""saq's Redis queue, with its sweep made safe for a job a worker has only just taken.

A worker takes a job by moving it to the active list and only then marks it active. A sweep in
between finds it there still marked queued, takes it for abandoned and aborts it (saq issue
#277), so a job can be lost. Here a sweep passes over such a job the first time, and sweeps it
only if the next sweep finds it unchanged: its worker died in that moment.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import saq.queue.redis
from saq.job import Job, Status
from saq.utils import now

# Set while a sweep runs, in its own task only: the jobs it found taken but not yet active.
SWEEPING: ContextVar[dict[str, tuple[int, int]] | None] = ContextVar("sweeping", default=None)


class RedisQueue(saq.queue.redis.RedisQueue):
    def __init__(self, *arguments: Any, **options: Any) -> None:
        super().__init__(*arguments, **options)
        self.taken: dict[str, tuple[int, int]] = {}  # job id -> (attempts, touched) last sweep

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        seen: dict[str, tuple[int, int]] = {}
        token = SWEEPING.set(seen)
        try:
            return await super().sweep(lock, abort)
        finally:
            SWEEPING.reset(token)
            self.taken = seen

    def deserialize(self, payload: Any, status: Any = None) -> Job | None:
        job = super().deserialize(payload, status)
        seen = SWEEPING.get()
        if job is None or seen is None or job.status != Status.QUEUED:
            return job
        mark = seen[job.id] = (job.attempts, job.touched)
        if self.taken.get(job.id) != mark:  # first seen taken: look again next sweep
            # Active, and just started and touched, so that saq's sweep finds it neither
            # abandoned nor stuck (past its timeout since `started`, or past its heartbeat).
            job.status = Status.ACTIVE
            job.started = job.touched = now()
        return job
