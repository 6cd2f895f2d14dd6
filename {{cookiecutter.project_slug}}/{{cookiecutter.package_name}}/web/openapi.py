"""The OpenAPI 3.1 document, built from the app's `ApiRoute`s and their pydantic models."""

from __future__ import annotations

import http
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.convertors import (
    Convertor,
    FloatConvertor,
    IntegerConvertor,
    PathConvertor,
    StringConvertor,
    UUIDConvertor,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from . import about
from .responses import JSONResponse
from .routing import WRITES, ApiRoute, Operation
from .schemas import Problem
from .templates import render

REF = "#/components/schemas/{model}"


# What Starlette's own path convertors accept, for routes that use them.
CONVERTOR_SCHEMAS: dict[type[Convertor[Any]], dict[str, Any]] = {
    StringConvertor: {"type": "string", "pattern": "^[^/]+$"},
    PathConvertor: {"type": "string"},
    IntegerConvertor: {"type": "integer", "minimum": 0},
    FloatConvertor: {"type": "number", "minimum": 0},
    UUIDConvertor: {"type": "string", "format": "uuid"},
}


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
        "info": {"title": about.TITLE, "version": about.version()},
        "tags": [{"name": tag} for tag in dict.fromkeys(route.tag for route in described)],
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
        "tags": [route.tag],
        "summary": operation.summary,
        "parameters": parameters,
        "responses": {
            str(status): _response(status, model) for status, model in sorted(responses.items())
        },
    }
    if operation.body is not None:
        content: dict[str, Any] = {"schema": _ref(operation.body)}
        if operation.example is not None:
            content["example"] = dict(operation.example)
        described["requestBody"] = {"required": True, "content": {"application/json": content}}
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
    return render(request, "docs.html", {"spec": document(request.app.routes)})


routes = [
    Route("/openapi.json", openapi_json, methods=["GET"], name="openapi"),
    Route("/docs", docs, methods=["GET"], name="docs"),
]
