"""JSON responses encoded by orjson: the same compact output as Starlette's, in less time."""

from __future__ import annotations

from typing import Any

import orjson
from starlette import responses


class JSONResponse(responses.JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
