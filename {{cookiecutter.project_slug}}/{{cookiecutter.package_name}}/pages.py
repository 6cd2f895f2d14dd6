"""Server-rendered HTML: the notes page, kept live by the WebSocket channel."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from .notes import list_page
from .schemas import Page


async def home(request: Request) -> Response:
    templates: Jinja2Templates = request.state.templates
    notes = await list_page(request.state.database, Page(limit=100))
    return templates.TemplateResponse(request, "index.html", {"notes": reversed(notes)})


routes = [Route("/", home, methods=["GET"], name="home")]
