"""The OpenAPI 3.1 document, built from the app's `ApiRoute`s and their pydantic models."""

from __future__ import annotations

import http
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.templating import Jinja2Templates

from .responses import JSONResponse
from .schemas import MAX_ID, Problem

TITLE = "{{ cookiecutter.project_name }}"
VERSION = "{{ cookiecutter.version }}"
REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Operation:
    """One method of an API route: its endpoint, and what it takes and returns."""

    endpoint: Callable[[Request], Awaitable[Response]]
    summary: str
    responses: Mapping[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None


class ApiRoute(Route):
    """A JSON resource: one path, one endpoint per method, each describing itself."""

    def __init__(self, path: str, *, name: str, operations: Mapping[str, Operation]) -> None:
        self.operations = {method.upper(): operation for method, operation in operations.items()}
        super().__init__(path, self.dispatch, methods=list(self.operations), name=name)

    async def dispatch(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await self.operations[method].endpoint(request)


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
        paths[route.path.replace(":int", "")] = {
            method.lower(): _operation(route, operation)
            for method, operation in route.operations.items()
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION},
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {})},
    }


def _models(operation: Operation) -> list[type[BaseModel]]:
    declared = [operation.body, operation.query, *operation.responses.values()]
    return [model for model in declared if model is not None]


def _operation(route: ApiRoute, operation: Operation) -> dict[str, Any]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        }
        for name in route.param_convertors
    ]
    if operation.query is not None:
        schema = operation.query.model_json_schema()
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": field}
            for name, field in schema["properties"].items()
        ]
    responses = dict(operation.responses)
    if operation.body is not None or operation.query is not None:
        responses[422] = Problem
    if operation.body is not None:
        responses[400] = Problem
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
