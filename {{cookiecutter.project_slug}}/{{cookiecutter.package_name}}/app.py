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
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

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


class AllowedHosts(TrustedHostMiddleware):
    """Starlette's Host header check, with a fast path for hosts listed by their exact name."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        super().__init__(app, allowed_hosts)
        self.exact = frozenset(host.encode() for host in allowed_hosts if "*" not in host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope.get("headers", ()):
            if name == b"host":
                if value.rpartition(b":")[0] in self.exact or value in self.exact:
                    await self.app(scope, receive, send)
                    return
                break
        await super().__call__(scope, receive, send)  # wildcards, redirects and refusals


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
        *health.routes,  # first: probes are the most frequent requests
        *pages.routes,
        *notes.routes,
        *live.routes,
        *openapi.routes,
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(AllowedHosts, allowed_hosts=list(settings.allowed_hosts))]
    if settings.forwarded_allow_ips:
        # Behind a reverse proxy: take the client address and scheme from X-Forwarded-*.
        trusted = list(settings.forwarded_allow_ips)
        middleware.insert(0, Middleware(ProxyHeadersMiddleware, trusted_hosts=trusted))
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=errors.handlers,
        lifespan=lifespan,
    )
