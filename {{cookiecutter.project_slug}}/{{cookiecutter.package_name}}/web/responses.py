"""JSON encoded by orjson: the same compact output as Starlette's, in less time.

Datetimes are written as pydantic writes them, in UTC with a "Z"; naive ones are taken as UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette import responses

OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=OPTIONS)


def instant(moment: datetime) -> str:
    """A datetime as the JSON answers write it, for the pages: "2026-01-31T12:00:00Z"."""
    return dumps(moment)[1:-1].decode()


class JSONResponse(responses.JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=OPTIONS)
