"""The features this service is made of. A new feature is a folder like notes/, added here.

`install()` gives `create_app` their routes, in the order they are tried, and their middleware.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from . import notes


def install() -> tuple[list[BaseRoute], list[Middleware]]:
    return [*notes.routes], []
