"""Traces: none in this project. The template's `tracing=opentelemetry` option replaces this
module with one that sends them over OTLP; the app calls the same names either way.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from starlette.middleware import Middleware

from .settings import Settings

NOTHING: AbstractContextManager[None] = nullcontext()
LOG_PROCESSORS: list[Any] = []  # structlog processors for the log lines of a request


class Tracer:
    """What `start` gives `create_app`: the middleware to add, and `stop` for its lifespan."""

    middleware: list[Middleware] = []  # noqa: RUF012  (never changed: read only)

    async def stop(self) -> None:
        return None


def start(settings: Settings) -> Tracer:
    return Tracer()


def query(sql: str, system: str) -> AbstractContextManager[None]:
    """Around one query; does nothing here."""
    return NOTHING
