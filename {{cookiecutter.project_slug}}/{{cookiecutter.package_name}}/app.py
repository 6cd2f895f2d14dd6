"""`create_app(settings)` builds the application; nothing here runs at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypedDict

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from . import errors, health, live, notes, openapi, pages
from .database import Database
from .events import Events
from .settings import Settings

HERE = Path(__file__).parent


class State(TypedDict):
    """What the lifespan opens; endpoints read it from `request.state`."""

    settings: Settings
    database: Database
    events: Events
    templates: Jinja2Templates


def create_app(settings: Settings) -> Starlette:
    settings.check()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        database = Database(
            settings.database_url,
            min_size=settings.database_pool_min,
            max_size=settings.database_pool_max,
            timeout=settings.database_timeout,
        )
        events = Events(settings.broadcast_url)
        await database.connect()
        await events.connect()
        try:
            yield {
                "settings": settings,
                "database": database,
                "events": events,
                "templates": Jinja2Templates(HERE / "templates"),
            }
        finally:
            await events.disconnect()
            await database.disconnect()

    routes = [
        *pages.routes,
        *notes.routes,
        *live.routes,
        *health.routes,
        *openapi.routes,
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))]
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=errors.handlers,
        lifespan=lifespan,
    )
