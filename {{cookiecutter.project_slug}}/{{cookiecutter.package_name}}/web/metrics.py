"""HTTP metrics: requests by method, route template and status class, their latency, and how
many are in flight (definitions in core/metrics.py; ops/metrics.py serves them).

The route label is the template of the route that matched (`/api/notes/{id:id}`), so a
thousand note ids make one series, and a path no route matches is counted as `UNMATCHED`.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from time import perf_counter
from typing import Any

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.metrics import (
    FLUSH_SECONDS,
    HTTP_DURATION,
    HTTP_IN_FLIGHT,
    HTTP_REQUESTS,
    MULTIPROCESS,
    READY,
    add_observations,
)
from .health import LIVE_PATH

UNMATCHED = "unmatched"
READY_PATH = "/health/ready"
# Any other method a client sends is counted as OTHER: the label values stay a fixed set.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


class Series:
    """What the requests of one (method, route, status class) added since the last flush, and
    the counter and histogram children they go to (looked up once, not per request)."""

    __slots__ = ("bounds", "buckets", "count", "duration", "readiness", "requests", "total")

    def __init__(self, method: str, route: str, status: str) -> None:
        self.requests = HTTP_REQUESTS.labels(method, route, status)
        self.duration = HTTP_DURATION.labels(method, route)
        self.readiness = int(status == "2xx") if route == READY_PATH else None
        self.bounds = self.duration._upper_bounds  # the buckets' upper bounds, +Inf last
        self.buckets = [0] * len(self.bounds)
        self.count, self.total = 0, 0.0

    def add(self, elapsed: float) -> None:
        self.count += 1
        self.total += elapsed
        self.buckets[bisect_left(self.bounds, elapsed)] += 1  # as Histogram.observe picks

    def flush(self) -> None:
        if not self.count:
            return
        self.requests.inc(self.count)
        add_observations(self.duration, self.buckets, self.total)
        self.count, self.total = 0, 0.0


def route_of(scope: Scope) -> str:
    route: Any = scope.get("route")
    if route is None:
        # The liveness probe is answered before routing (health.Liveness).
        return LIVE_PATH if scope["path"] == LIVE_PATH else UNMATCHED
    if isinstance(route, Mount):  # static files: one series for the whole folder
        return route.path + "/{path}"
    path: str = getattr(route, "path", UNMATCHED)
    return path


class Metrics:
    """Plain ASGI middleware, outermost, so that every answer is counted, refusals included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.series: dict[tuple[str, str, int], Series] = {}
        self.in_flight = 0
        self.batched = MULTIPROCESS  # else every request is written at once
        self.flushing = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers if the app fails before starting a response

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.in_flight += 1
        started = perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = perf_counter() - started
            self.in_flight -= 1
            method = scope["method"] if scope["method"] in METHODS else OTHER
            route = route_of(scope)
            key = (method, route, status // 100)
            series = self.series.get(key)
            if series is None:
                series = self.series[key] = Series(method, route, f"{status // 100}xx")
            series.add(elapsed)
            if series.readiness is not None:
                READY.set(series.readiness)
            if not self.batched:
                HTTP_IN_FLIGHT.set(self.in_flight)
                series.flush()
            elif not self.flushing:
                self.flushing = True
                asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.every_second)

    def every_second(self) -> None:
        self.flush()
        asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.every_second)

    def flush(self) -> None:
        HTTP_IN_FLIGHT.set(self.in_flight)
        for series in list(self.series.values()):
            series.flush()
