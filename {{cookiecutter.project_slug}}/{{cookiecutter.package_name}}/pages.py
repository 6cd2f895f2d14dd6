"""Server-rendered HTML: the notes page, kept live by the WebSocket channel."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from . import responses
from .database import Database
from .notes import OWNED, owner_of
from .openapi import TITLE
from .schemas import Note
from .tables import notes

HERE = Path(__file__).parent
# The page shows the latest notes, newest first; the API pages through all of them.
NEWEST = notes.select().where(*OWNED).order_by(notes.c.id.desc()).limit(100)


def templates() -> Jinja2Templates:
    """The pages' templates; `instant` writes a datetime the way the API does."""
    made = Jinja2Templates(HERE / "templates")
    made.env.filters["instant"] = responses.instant
    return made


async def home(request: Request) -> Response:
    templates: Jinja2Templates = request.state.templates
    db: Database = request.state.database
    newest = [Note.model_validate(row) for row in await db.fetch_all(NEWEST, owner_of(request))]
    context = {"notes": newest, "project_name": TITLE}
    return templates.TemplateResponse(request, "index.html", context)


routes = [Route("/", home, methods=["GET"], name="home")]
