"""How a feature declares a JSON resource: `ApiRoute`s of `Operation`s that describe themselves.

`web/openapi.py` builds the API's document from them; `parse` validates a request against a
pydantic model, with a 422 naming each bad field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import pydantic
from pydantic import BaseModel
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import RequestValidationError
from .schemas import MAX_ID

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
Model = TypeVar("Model", bound=pydantic.BaseModel)


def up_to(limit: int) -> str:
    """A regular expression for the decimal numbers 0 to `limit`, without leading zeros."""
    digits = str(limit)
    # Every shorter number, then those as long as `limit` that are below it at some place.
    parts = ["[1-9]" + "[0-9]?" * (len(digits) - 2), "0"] if len(digits) > 1 else []
    for place, digit in enumerate(digits):
        lowest = 1 if place == 0 and len(digits) > 1 else 0
        if int(digit) > lowest:
            rest = len(digits) - place - 1
            parts.append(f"{digits[:place]}[{lowest}-{int(digit) - 1}]" + "[0-9]" * rest)
    return "|".join([*parts, digits])


class IdConvertor(Convertor[int]):
    """Row ids in paths, `{id:id}`: only numbers an id column can hold (up to MAX_ID).

    A larger number matches no route and is a 404, like any id without a row, before it can
    reach a database driver that would overflow on it.
    """

    regex = f"(?:{up_to(MAX_ID)})"
    schema: ClassVar[dict[str, Any]] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())


@dataclass(frozen=True)
class Operation:
    """One method of an API route: its endpoint, and what it takes and returns."""

    endpoint: Callable[[Request], Awaitable[Response]]
    summary: str
    responses: Mapping[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    headers: tuple[Mapping[str, Any], ...] = ()  # OpenAPI parameter objects ("in": "header")
    example: Mapping[str, Any] | None = None  # a body that /docs' "Try it out" starts from


class ApiRoute(Route):
    """A JSON resource: one path, one endpoint per method, each describing itself; `tag`
    groups its operations in the API's document (one tag per feature)."""

    def __init__(
        self, path: str, *, name: str, tag: str, operations: Mapping[str, Operation]
    ) -> None:
        self.tag = tag
        self.operations = {method.upper(): operation for method, operation in operations.items()}
        super().__init__(path, self.dispatch, methods=list(self.operations), name=name)

    async def dispatch(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        operation = self.operations[method]
        if method in WRITES and request.state.write_limit is not None:
            await request.state.write_limit.check(request)
        # Only JSON: a form or a text/plain post from another site cannot write.
        if operation.body is not None and not is_json(request.headers.get("content-type", "")):
            raise HTTPException(415, "The request body must be JSON (application/json).")
        return await operation.endpoint(request)


def is_json(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def parse(model: type[Model], location: str, data: bytes | dict[str, str]) -> Model:
    """`data` (a JSON body, or query parameters) as `model`; 400 or 422 when it does not fit."""
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise HTTPException(400, "The request body is not valid JSON.") from error
        raise RequestValidationError(location, error) from error
