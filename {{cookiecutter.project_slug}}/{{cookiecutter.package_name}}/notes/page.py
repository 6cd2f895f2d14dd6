"""The notes page, rendered on the server and kept live by the WebSocket channel (live.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..web import about, scoping
from ..web.templates import render
from .queries import newest
from .schemas import Note


async def home(request: Request) -> Response:
    # The page shows the latest notes, newest first; the API pages through all of them.
    notes = [
        Note.model_validate(row)
        for row in await newest(request.state.database, scoping.of(request))
    ]
    context = {"notes": notes, "project_name": about.TITLE}
    return render(request, "index.html", context)


routes = [Route("/", home, methods=["GET"], name="home")]
