"""The features this service is made of. A new feature is a folder like notes/, added here.

`install()` gives `create_app` their routes, in the order they are tried, and their middleware;
`SettingsError` if the accounts' settings are unfit.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from . import accounts, notes


def install() -> tuple[list[BaseRoute], list[Middleware]]:
    accounts_routes, accounts_middleware = accounts.install()
    return [*accounts_routes, *notes.routes], accounts_middleware
