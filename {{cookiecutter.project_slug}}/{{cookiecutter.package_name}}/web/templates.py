"""The pages' Jinja templates (the shared ones here, each feature's in its own templates/), and
the site's icon where browsers look for it without a page.

Jinja is imported when the first page is rendered, not with the app: a process that serves
only the API (a Lambda function, say) never loads it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .responses import instant

if TYPE_CHECKING:
    from starlette.templating import Jinja2Templates

PACKAGE = Path(__file__).parents[1]


def readable(moment: datetime) -> str:
    """A point in time for a reader, in UTC and to the minute: "2 Dec 2026, 15:20 UTC". A naive
    datetime is taken as UTC, as the database keeps them."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


@cache
def templates() -> Jinja2Templates:
    """Every folder's templates, loaded once; `instant` writes a datetime the way the API does,
    `readable` the way a person reads it."""
    from starlette.templating import Jinja2Templates

    made = Jinja2Templates(directory=sorted(PACKAGE.glob("*/templates")))
    made.env.filters["instant"] = instant
    made.env.filters["readable"] = readable
    return made


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    """The page made from template `name` (in any templates/ folder) with `context`."""
    return templates().TemplateResponse(request, name, context, status_code=status)


async def favicon(request: Request) -> Response:
    return RedirectResponse(str(request.url_for("static", path="favicon.svg")), status_code=301)


routes = [Route("/favicon.ico", favicon, methods=["GET"], name="favicon")]
