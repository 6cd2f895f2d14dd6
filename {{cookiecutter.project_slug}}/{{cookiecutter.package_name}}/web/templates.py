"""The pages' Jinja templates (the shared ones here, each feature's in its own templates/), and
the site's icon where browsers look for it without a page."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from .responses import instant

PACKAGE = Path(__file__).parents[1]


def templates() -> Jinja2Templates:
    """Every folder's templates; `instant` writes a datetime the way the API does."""
    made = Jinja2Templates(directory=sorted(PACKAGE.glob("*/templates")))
    made.env.filters["instant"] = instant
    return made


async def favicon(request: Request) -> Response:
    return RedirectResponse(str(request.url_for("static", path="favicon.svg")), status_code=301)


routes = [Route("/favicon.ico", favicon, methods=["GET"], name="favicon")]
