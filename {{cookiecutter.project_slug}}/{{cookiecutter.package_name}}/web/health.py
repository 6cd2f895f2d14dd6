"""Health checks for load balancers and orchestrators: is the process up, can it serve?"""

from __future__ import annotations

import asyncio
import logging

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..core.database import Database, DatabaseMissing, DatabaseUnavailable
from ..core.events import Events, EventsUnavailable
from ..core.jobs import Queue
from ..core.settings import Settings
from ..ops.drain import Drain
from .errors import problem
from .responses import JSONResponse
from .routing import ApiRoute, Operation
from .schemas import Problem

logger = logging.getLogger(__name__)


LIVE_PATH = "/health/live"
LIVE_BODY = b'{"status":"ok"}'
LIVE_LENGTH = str(len(LIVE_BODY)).encode()


async def live(request: Request) -> Response:
    """The liveness answer through the router: what `Liveness` sends, and what the OpenAPI
    document describes."""
    return Response(LIVE_BODY, media_type="application/json")


class Liveness:
    """Answers `GET /health/live` before routing.

    Orchestrators ask every instance every few seconds, and the answer only says that the
    process answers: it needs no router, error layers or JSON encoder, and skipping them makes
    the probe cheaper than a bare Starlette router's route (benchmarks/README.md). In `app.py`
    it comes right after `middleware.Guard`, so the probe still passes the Host check and gets
    the request id and the security headers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and scope["path"] == scope.get("root_path", "") + LIVE_PATH
        ):
            headers = [(b"content-type", b"application/json"), (b"content-length", LIVE_LENGTH)]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            body = b"" if scope["method"] == "HEAD" else LIVE_BODY
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


async def ready(request: Request) -> Response:
    drain: Drain = request.state.drain
    if drain.draining:
        return problem(503, "The server is shutting down.")
    database: Database = request.state.database
    settings: Settings = request.state.settings
    # The driver's error is for the operator, not for whoever asks.
    try:
        # A hung connection must not hold the probe for the database's own, longer timeout.
        async with asyncio.timeout(settings.readiness_timeout):
            await database.ping()
    except TimeoutError:
        logger.warning("Not ready: no answer within %gs", settings.readiness_timeout)
        return problem(503, "The database is unreachable.")
    except DatabaseMissing as exc:  # our own sentence, which says how to fix it
        logger.warning("Not ready: %s", exc)
        return problem(503, f"The database is not ready: {exc}.")
    except DatabaseUnavailable as exc:
        logger.warning("Not ready: %s", exc)
        return problem(503, "The database is unreachable.")
    events: Events = request.state.events
    try:
        await events.ping()
    except EventsUnavailable as exc:
        logger.warning("Not ready: %s (%r)", exc, exc.__cause__)
        return problem(503, str(exc))
    jobs: Queue = request.state.jobs
    try:
        await jobs.ping()
    except Exception as exc:  # any driver's: the queue does not answer
        logger.warning("Not ready: the job queue is unreachable (%r)", exc)
        return problem(503, f"The job queue ({jobs.backend}) is unreachable.")
    body = {"status": "ok", "database": "ok", "broker": events.backend, "jobs": jobs.backend}
    return JSONResponse(body)


class Live(BaseModel):
    status: str = Field(description='Always "ok": the process answers.')


class Ready(BaseModel):
    status: str = Field(description='"ok": the database, the broker and the job queue answer.')
    database: str
    broker: str = Field(description="Which broker carries live events: memory, redis, postgres.")
    jobs: str = Field(description="Which queue runs the jobs: memory, redis, postgres.")


routes = [
    ApiRoute(
        LIVE_PATH,
        name="health_live",
        tag="health",
        operations={"GET": Operation(live, "Is the process up?", {200: Live})},
    ),
    ApiRoute(
        "/health/ready",
        name="health_ready",
        tag="health",
        operations={"GET": Operation(ready, "Can it serve?", {200: Ready, 503: Problem})},
    ),
]
