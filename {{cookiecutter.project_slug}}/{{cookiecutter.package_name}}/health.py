"""Health checks for load balancers and orchestrators: is the process up, can it serve?"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .database import Database, DatabaseUnavailable
from .errors import problem
from .responses import JSONResponse


async def live(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    database: Database = request.state.database
    try:
        await database.ping()
    except DatabaseUnavailable as exc:
        return problem(503, f"The database is unreachable ({exc}).")
    return JSONResponse({"status": "ok", "database": "ok"})


routes = [
    Route("/health/live", live, methods=["GET"], name="health_live"),
    Route("/health/ready", ready, methods=["GET"], name="health_ready"),
]
