"""The features this service is made of. A new feature is a folder like notes/, added here.

`install()` gives `create_app` their routes, in the order they are tried, and their middleware
(`SettingsError` if the accounts' settings are unfit); `jobs()` gives the job queue their jobs
(core/jobs.py).
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from . import accounts, notes
from .core.jobs import Function, Periodic
from .web import idempotency


def install() -> tuple[list[BaseRoute], list[Middleware]]:
    accounts_routes, accounts_middleware = accounts.install()
    return [*accounts_routes, *notes.routes], accounts_middleware


def jobs() -> tuple[list[Function], list[Periodic]]:
    """The features' job functions, and those that run on a schedule."""
    periodic = [Periodic(idempotency.forget_expired, idempotency.FORGET_EVERY_MINUTES)]
    return [*notes.jobs, *accounts.jobs, *(entry.function for entry in periodic)], periodic
