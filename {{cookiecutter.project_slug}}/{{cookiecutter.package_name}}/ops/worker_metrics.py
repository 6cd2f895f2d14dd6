"""The worker's Prometheus metrics, at `/metrics` on WORKER_METRICS_PORT (docs/operating.md).

A worker is one process, so these are plain prometheus_client metrics, served from a thread
with the client's process collectors. Every worker counts the queue's depth at each sweep
(WORKER_SWEEP_SECONDS); all of them count the same queue, so take the largest of their values.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from saq import Queue

from ..core.jobs_saq import JobsSettings
from ..core.settings import Settings

logger = logging.getLogger(__name__)

JOBS_QUEUED = Gauge("jobs_queued", "Jobs waiting in the queue, as this worker last counted them.")
QUEUE_REACHABLE = Gauge(
    "jobs_queue_reachable", "1 if this worker's last count of the queue succeeded, else 0."
)
JOBS_RUNNING = Gauge("jobs_running", "Jobs this worker is running now.")
JOBS_ENDED = Counter(
    "jobs_ended",
    "Attempts at a job that have ended, by function and outcome (complete, retried, failed).",
    ["function", "outcome"],
)
JOB_DURATION = Histogram(
    "job_duration_seconds",
    "Time an attempt at a job takes, by function.",
    ["function"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800),
)


def serve(settings: Settings, config: JobsSettings) -> None:
    """Serve the metrics in a thread; a busy port is logged, not fatal (as the web's)."""
    if not settings.metrics_enabled:
        return
    try:
        start_http_server(config.worker_metrics_port, config.host)
    except OSError as exc:
        logger.error(
            "Metrics not served: port %s on %s is unavailable (%s); set WORKER_METRICS_PORT to "
            "a free port or METRICS_ENABLED=false",
            config.worker_metrics_port,
            config.host,
            exc.strerror,
        )
        return
    logger.info("Metrics on http://%s:%s/metrics", config.host, config.worker_metrics_port)


async def count(queue: Queue, seconds: float, stopped: asyncio.Event) -> None:
    """Count the jobs waiting every `seconds`, until `stopped` is set (or cancelled)."""
    reachable = True
    while not stopped.is_set():
        try:
            async with asyncio.timeout(seconds):
                JOBS_QUEUED.set(await queue.count("queued"))
        except Exception as exc:  # any driver's: the gauge and the next count tell
            if reachable:
                logger.warning("The job queue is unreachable: %r", exc)
            reachable = False
        else:
            reachable = True
        QUEUE_REACHABLE.set(1 if reachable else 0)
        await asyncio.sleep(seconds)
