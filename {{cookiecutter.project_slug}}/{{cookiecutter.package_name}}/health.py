"""Health checks for load balancers and orchestrators: is the process up, can it serve?"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .database import Database, DatabaseMissing, DatabaseUnavailable
from .drain import Drain
from .errors import problem
from .events import Events, EventsUnavailable
from .responses import JSONResponse
from .settings import Settings

logger = logging.getLogger(__name__)


async def live(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


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
    return JSONResponse({"status": "ok", "database": "ok", "broker": events.backend})


routes = [
    Route("/health/live", live, methods=["GET"], name="health_live"),
    Route("/health/ready", ready, methods=["GET"], name="health_ready"),
]
