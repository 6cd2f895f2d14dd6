"""HTTP metrics: requests by method, route template and status class, their latency, and how
many are in flight (definitions in core/metrics.py; ops/metrics.py serves them).

The route label is the template of the route that matched (`/api/notes/{note_id}`), so a
thousand note ids make one series, and a path no route matches is counted as `UNMATCHED`.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.metrics import HTTP_DURATION, HTTP_IN_FLIGHT, HTTP_REQUESTS, READY
from .health import LIVE_PATH

UNMATCHED = "unmatched"
READY_PATH = "/health/ready"
# Any other method a client sends is counted as OTHER: the label values stay a fixed set.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


class Series:
    """The counter and histogram children of one (method, route, status) combination.

    Looking a child up by its labels takes a lock and builds a tuple each time: a request
    takes them from a dict keyed by what it already has instead.
    """

    __slots__ = ("duration", "readiness", "requests")

    def __init__(self, method: str, route: str, status: str) -> None:
        self.requests = HTTP_REQUESTS.labels(method, route, status)
        self.duration = HTTP_DURATION.labels(method, route)
        self.readiness = int(status == "2xx") if route == READY_PATH else None


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

        HTTP_IN_FLIGHT.inc()
        started = perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = perf_counter() - started
            HTTP_IN_FLIGHT.dec()
            method = scope["method"] if scope["method"] in METHODS else OTHER
            route = route_of(scope)
            key = (method, route, status // 100)
            series = self.series.get(key)
            if series is None:
                series = self.series[key] = Series(method, route, f"{status // 100}xx")
            series.requests.inc()
            series.duration.observe(elapsed)
            if series.readiness is not None:
                READY.set(series.readiness)
