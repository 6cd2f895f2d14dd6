"""The service's Prometheus metrics, defined once; the code where each event happens counts it.

docs/operating.md says what each one means. With several workers, `ops/serve.py` points every
process at one PROMETHEUS_MULTIPROC_DIR (read by prometheus_client when it is first imported)
and serves their sum; gauges say how processes combine (`livesum`: the total over live ones,
`livemin`: 0 as soon as one process sees the problem).
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from time import perf_counter

from prometheus_client import Counter, Gauge, Histogram

# With several workers (multiprocess mode) every update of a metric is a locked write to a
# shared file, 3 to 5 µs: the hot ones (HTTP, queries) add to plain numbers instead, written
# this often. In one process (tests, development) they are written at once.
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ
FLUSH_SECONDS = 1.0

# HTTP (web/metrics.py): `route` is the matched route's template, never the raw path.
HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by method, route template and status class.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_FLIGHT = Gauge(
    "http_requests_in_flight", "HTTP requests being answered now.", multiprocess_mode="livesum"
)
READY = Gauge(
    "health_ready",
    "0 if the last readiness check failed, else 1.",
    multiprocess_mode="livemin",
)
READY.set(1)  # until a check fails: a process nobody probes (compose, systemd) raises no alert

# The database (core/database.py).
QUERY_DURATION = Histogram(
    "database_query_duration_seconds",
    "Time a query takes, waiting for a connection included.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
DATABASE_UNAVAILABLE = Counter(
    "database_unavailable", "Queries that failed because the database did not answer."
)

# Live events (core/events.py, web/sockets.py).
WEBSOCKETS = Gauge("websocket_connections", "WebSockets open now.", multiprocess_mode="livesum")
EVENTS_PUBLISHED = Counter("events_published", "Note events published to the broker.")
EVENTS_PUBLISH_FAILED = Counter(
    "events_publish_failures", "Note events not published: the broker did not take them."
)
EVENTS_DELIVERED = Counter("events_delivered", "Note events queued for a WebSocket client.")
EVENTS_DROPPED = Counter(
    "events_dropped", "Live readers cut off for falling behind: their pending events dropped."
)
BROKER_CONNECTED = Gauge(
    "broker_connected",
    "1 while this process is subscribed to the broker, else 0.",
    multiprocess_mode="livemin",
)


def add_observations(histogram: Histogram, buckets: list[int], total: float) -> None:
    """Add the observations counted in `buckets` (one count per bucket, as `observe` picks
    them: `bisect_left` on the upper bounds) and their `total`; `buckets` is zeroed.

    Histogram has no public way to add n observations at once: these are its own values.
    """
    for index, count in enumerate(buckets):
        if count:
            histogram._buckets[index].inc(count)
            buckets[index] = 0
    histogram._sum.inc(total)


class Tally:
    """An unlabelled histogram's observations, added up here and written once a second."""

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self.bounds = histogram._upper_bounds
        self.buckets = [0] * len(self.bounds)
        self.total = 0.0
        self.scheduled = False

    def add(self, seconds: float) -> None:
        self.total += seconds
        self.buckets[bisect_left(self.bounds, seconds)] += 1
        if not MULTIPROCESS:
            self.flush()
        elif not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.every_second)

    def every_second(self) -> None:
        self.flush()
        asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.every_second)

    def flush(self) -> None:
        if self.total or any(self.buckets):
            add_observations(self.histogram, self.buckets, self.total)
            self.total = 0.0


QUERIES = Tally(QUERY_DURATION)


class QueryTimer:
    """`with QueryTimer():` times a query into QUERY_DURATION (a class, as `Outages` is)."""

    __slots__ = ("started",)

    def __enter__(self) -> None:
        self.started = perf_counter()

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> None:
        QUERIES.add(perf_counter() - self.started)


class Flag(asyncio.Event):
    """An `asyncio.Event` that a gauge follows: 1 while set, 0 while clear."""

    def __init__(self, gauge: Gauge) -> None:
        super().__init__()
        self.gauge = gauge
        gauge.set(0)

    def set(self) -> None:
        super().set()
        self.gauge.set(1)

    def clear(self) -> None:
        super().clear()
        self.gauge.set(0)
