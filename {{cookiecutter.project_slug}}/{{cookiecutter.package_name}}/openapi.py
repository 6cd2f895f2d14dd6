"""The OpenAPI 3.1 document, built from the app's `ApiRoute`s and their pydantic models."""

from __future__ import annotations

import http
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.convertors import (
    Convertor,
    FloatConvertor,
    IntegerConvertor,
    PathConvertor,
    StringConvertor,
    UUIDConvertor,
    register_url_convertor,
)
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.templating import Jinja2Templates

from .responses import JSONResponse
from .schemas import MAX_ID, Problem

# The project's name as ruff formats a literal: in double quotes, unless it holds more of them
# than of single quotes.
TITLE = {{ ("'" ~ cookiecutter.project_name | replace('\\', '\\\\') | replace("'", "\\'") ~ "'") if cookiecutter.project_name.count('"') > cookiecutter.project_name.count("'") else ('"' ~ cookiecutter.project_name | replace('\\', '\\\\') | replace('"', '\\"') ~ '"') }}
VERSION = "{{ cookiecutter.version }}"
REF = "#/components/schemas/{model}"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class IdConvertor(Convertor[int]):
    """Row ids in paths, `{id:id}`: at most ten digits, so no path reaches `int()`'s limit.

    A longer number matches no route and is a 404, like any id without a row.
    """

    regex = "[0-9]{1,10}"
    schema: ClassVar[dict[str, Any]] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())

# What Starlette's own path convertors accept, for routes that use them.
CONVERTOR_SCHEMAS: dict[type[Convertor[Any]], dict[str, Any]] = {
    StringConvertor: {"type": "string", "pattern": "^[^/]+$"},
    PathConvertor: {"type": "string"},
    IntegerConvertor: {"type": "integer", "minimum": 0},
    FloatConvertor: {"type": "number", "minimum": 0},
    UUIDConvertor: {"type": "string", "format": "uuid"},
}


@dataclass(frozen=True)
class Operation:
    """One method of an API route: its endpoint, and what it takes and returns."""

    endpoint: Callable[[Request], Awaitable[Response]]
    summary: str
    responses: Mapping[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    headers: tuple[Mapping[str, Any], ...] = ()  # OpenAPI parameter objects ("in": "header")


class ApiRoute(Route):
    """A JSON resource: one path, one endpoint per method, each describing itself."""

    def __init__(self, path: str, *, name: str, operations: Mapping[str, Operation]) -> None:
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


def api_routes(routes: Iterable[BaseRoute]) -> list[ApiRoute]:
    found: list[ApiRoute] = []
    for route in routes:
        if isinstance(route, ApiRoute):
            found.append(route)
        elif isinstance(route, Mount):
            found.extend(api_routes(route.routes))
    return found


def document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    described = api_routes(routes)
    models = {Problem} | {
        model
        for route in described
        for operation in route.operations.values()
        for model in _models(operation)
    }
    _, schemas = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template=REF,
    )
    paths: dict[str, dict[str, Any]] = {}
    for route in described:
        paths[openapi_path(route)] = {
            method.lower(): _operation(route, method, operation)
            for method, operation in route.operations.items()
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION},
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {})},
    }


def openapi_path(route: Route) -> str:
    """The route's path as OpenAPI writes it: `{id}` rather than Starlette's `{id:id}`."""
    return re.sub(r"{(\w+):\w+}", r"{\1}", route.path)


def _models(operation: Operation) -> list[type[BaseModel]]:
    declared = [operation.body, operation.query, *operation.responses.values()]
    return [model for model in declared if model is not None]


def _operation(route: ApiRoute, method: str, operation: Operation) -> dict[str, Any]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": getattr(convertor, "schema", None) or CONVERTOR_SCHEMAS[type(convertor)],
        }
        for name, convertor in route.param_convertors.items()
    ]
    if operation.query is not None:
        schema = operation.query.model_json_schema()
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": field}
            for name, field in schema["properties"].items()
        ]
    parameters += [dict(header) for header in operation.headers]
    responses = dict(operation.responses)
    if operation.body is not None or operation.query is not None or operation.headers:
        responses[422] = Problem
    if operation.body is not None:
        responses.update({400: Problem, 413: Problem, 415: Problem})
    if method in WRITES:
        responses[429] = Problem  # when RATE_LIMIT_WRITES is set
    if route.param_convertors:
        responses[404] = Problem
    described: dict[str, Any] = {
        "operationId": operation.endpoint.__name__,
        "summary": operation.summary,
        "parameters": parameters,
        "responses": {
            str(status): _response(status, model) for status, model in sorted(responses.items())
        },
    }
    if operation.body is not None:
        described["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(operation.body)}},
        }
    return described


def _response(status: int, model: type[BaseModel] | None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": http.HTTPStatus(status).phrase}
    if model is not None:
        media_type = "application/problem+json" if model is Problem else "application/json"
        response["content"] = {media_type: {"schema": _ref(model)}}
    return response


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


async def openapi_json(request: Request) -> Response:
    return JSONResponse(document(request.app.routes))


async def docs(request: Request) -> Response:
    templates: Jinja2Templates = request.state.templates
    return templates.TemplateResponse(request, "docs.html", {"spec": document(request.app.routes)})


routes = [
    Route("/openapi.json", openapi_json, methods=["GET"], name="openapi"),
    Route("/docs", docs, methods=["GET"], name="docs"),
]
