"""The service's Prometheus metrics, defined once; the code where each event happens counts it.

docs/operating.md says what each one means. With several workers, `ops/serve.py` points every
process at one PROMETHEUS_MULTIPROC_DIR (read by prometheus_client when it is first imported)
and serves their sum; gauges say how processes combine (`livesum`: the total over live ones,
`livemin`: 0 as soon as one process sees the problem).
"""

from __future__ import annotations

import asyncio

from prometheus_client import Counter, Gauge, Histogram

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
