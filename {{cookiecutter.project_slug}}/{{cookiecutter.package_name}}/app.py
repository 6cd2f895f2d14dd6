"""`create_app(settings)` builds the application; nothing here runs at import time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypedDict

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from . import features
from .core import reporting, tracing
from .core.database import Database
from .core.events import Events
from .core.jobs import Queue, open_queue
from .core.settings import Settings
from .ops.drain import Drain
from .web import errors, health, openapi, sockets
from .web import templates as pages
from .web.metrics import Metrics
from .web.middleware import Cors, Guard
from .web.ratelimit import WriteLimit

HERE = Path(__file__).parent


class State(TypedDict):
    """What the lifespan opens; endpoints read it from `request.state`."""

    settings: Settings
    database: Database
    events: Events
    jobs: Queue
    drain: Drain
    write_limit: WriteLimit | None
    connections: set[sockets.Connection]  # open WebSockets, closed with 1001 at shutdown


def create_app(settings: Settings) -> Starlette:
    drain = Drain(settings.shutdown_drain_file)
    tracer = tracing.start(settings)
    reporter = reporting.start(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        database = Database(
            settings.database_url,
            min_size=settings.database_pool_min,
            max_size=settings.database_pool_max,
            timeout=settings.database_timeout,
        )
        events = Events(
            settings.broadcast_url, settings.broadcast_channel, settings.broadcast_timeout
        )
        jobs = open_queue(settings, *features.jobs())
        write_limit = WriteLimit(settings.rate_limit_writes) if settings.rate_limit_writes else None
        connections: set[sockets.Connection] = set()
        await database.connect()
        await events.connect()
        await jobs.connect(database, events)
        drain.start()

        async def goodbye_at_stop() -> None:
            # Both servers cut open WebSockets when they stop: close them with 1001 first.
            await drain.stopping.wait()
            await sockets.say_goodbye(connections)

        goodbye = asyncio.create_task(goodbye_at_stop())
        try:
            yield {
                "settings": settings,
                "database": database,
                "events": events,
                "jobs": jobs,
                "drain": drain,
                "write_limit": write_limit,
                "connections": connections,
            }
        finally:
            # The server has stopped serving: what still holds a subscription or a
            # connection (WebSockets closing) goes before the database does.
            goodbye.cancel()
            await asyncio.wait({goodbye})  # its CancelledError stays in it
            await sockets.say_goodbye(connections)
            await drain.stop()
            await jobs.disconnect()  # jobs still running in this process (memory://) end here
            await events.disconnect()
            await database.disconnect()
            await tracer.stop()
            await reporter.stop()

    feature_routes, feature_middleware = features.install()
    routes = [
        *health.routes,  # first: probes are the most frequent requests
        *feature_routes,
        *openapi.routes,
        *pages.routes,  # /favicon.ico
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        # Swagger UI's files for /docs, as the swagger-ui-py package ships them.
        Mount("/docs/assets", StaticFiles(packages=[("swagger_ui", "static")]), name="docs_assets"),
    ]
    # Outermost first; the optional ones are left out when off.
    middleware = [Middleware(Metrics)] if settings.metrics_enabled else []
    middleware += tracer.middleware  # spans hold the request's whole time, Guard's included
    if settings.forwarded_allow_ips:
        # Behind a reverse proxy: take the client address and scheme from X-Forwarded-*
        # before anything reads them (HSTS goes only to requests that came over TLS).
        # Imported only here: the Lambda bundle has no server (Mangum takes the client from
        # the event), and a function leaves FORWARDED_ALLOW_IPS unset.
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        trusted = list(settings.forwarded_allow_ips)
        middleware.append(Middleware(ProxyHeadersMiddleware, trusted_hosts=trusted))
    guard = Middleware(
        Guard,  # request ids, the Host check, the body limit, security headers: one pass
        allowed_hosts=settings.allowed_hosts,
        max_body_size=settings.max_body_size,
        drain=drain,
    )
    middleware.append(guard)
    middleware.append(Middleware(health.Liveness))  # the probe, answered before routing
    if settings.cors_allow_origins:
        # Pages on these origins may call the API; CORS answers their preflights here.
        cors = Middleware(
            Cors,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Content-Type"],
            expose_headers=["Location", "Retry-After"],
        )
        middleware.append(cors)
    middleware += feature_middleware  # after CORS, which answers preflights without a user
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=errors.handlers,
        lifespan=lifespan,
    )
