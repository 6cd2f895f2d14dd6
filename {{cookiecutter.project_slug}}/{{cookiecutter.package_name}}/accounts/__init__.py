"""User accounts: sign-up and sign-in pages (pages.py), the password change (password_change.py),
the mailed links that confirm an address or reset a password (recovery.py, mail.py),
personal access tokens (tokens.py), who each request acts for (auth.py), and the OpenAPI
document's security schemes.

Each feature keeps its rows to their owner through web/scoping.py; `scripts/manage` runs the
operator's commands (manage.py).
"""

from __future__ import annotations

from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..web import openapi
from ..web.responses import JSONResponse
from . import mail, pages, password_change, recovery, tokens
from .auth import SessionOrToken, SignInRequired, public, refusal
from .sessions import COOKIE, Accounts
from .settings import load_auth

SECURITY_SCHEMES = {
    "token": {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal access token, from /account or POST /api/tokens.",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": COOKIE,
        "description": "The signed-in page's cookie; writes also need the X-CSRF-Token header.",
    },
}


def install() -> tuple[list[BaseRoute], list[Middleware]]:
    """The routes and the middleware of accounts; `SettingsError` if SECRET_KEY is unfit."""
    accounts = Accounts(load_auth())
    routes: list[BaseRoute] = [
        # Before openapi.routes: this document is theirs with the security schemes added.
        Route("/openapi.json", openapi_json, methods=["GET"], name="openapi"),
        *pages.routes,
        *password_change.routes,
        *recovery.routes,
        *tokens.routes,
    ]
    backend = SessionOrToken(accounts)
    middleware = [
        Middleware(AuthenticationMiddleware, backend=backend, on_error=refusal),
        Middleware(SignInRequired),
    ]
    return routes, middleware


jobs = [*mail.jobs]


def secured(spec: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the security schemes, required by every operation but those
    on the public paths (the health checks), which need no credential."""
    spec["components"]["securitySchemes"] = SECURITY_SCHEMES
    spec["security"] = [{"token": []}, {"session": []}]
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            if public(path):
                operation["security"] = []
                continue
            operation["responses"]["401"] = {
                "description": "Unauthorized",
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            }
    return spec


async def openapi_json(request: Request) -> Response:
    return JSONResponse(secured(openapi.document(request.app.routes)))
