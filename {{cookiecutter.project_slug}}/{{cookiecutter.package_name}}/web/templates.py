"""The pages' Jinja templates: the shared ones here, and each feature's in its own templates/."""

from __future__ import annotations

from pathlib import Path

from starlette.templating import Jinja2Templates

from .responses import instant

PACKAGE = Path(__file__).parents[1]


def templates() -> Jinja2Templates:
    """Every folder's templates; `instant` writes a datetime the way the API does."""
    made = Jinja2Templates(directory=sorted(PACKAGE.glob("*/templates")))
    made.env.filters["instant"] = instant
    return made
