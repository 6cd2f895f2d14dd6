"""One JSON error shape for every failure: RFC 9457 problem details.

`{"type": "about:blank", "title": "Not Found", "status": 404, "detail": "...", "errors": [...]}`
where `errors` lists each bad field of a request that failed validation.
"""

from __future__ import annotations

import http
import logging
from typing import Any

import pydantic
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ExceptionHandler

from ..core.database import DatabaseUnavailable, OutcomeUnknown
from ..core.jobs import QueueFull, QueueUnavailable
from .responses import JSONResponse
from .schemas import PATTERN_MESSAGES
from .security import security_headers

logger = logging.getLogger(__name__)

ENDED_EARLY = "%s %s: the request ended before its body ended"

# RFC 9110's names, which Python's own table only adopted in 3.13.
TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


class ProblemResponse(JSONResponse):
    media_type = "application/problem+json"


def problem(status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status) or http.HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return ProblemResponse(body, status_code=status)


class RequestValidationError(Exception):
    """Raised by endpoints when a part of the request (`body`, `query`, `path`) is invalid."""

    def __init__(self, location: str, error: pydantic.ValidationError) -> None:
        super().__init__(f"invalid {location}")
        self.location = location
        self.error = error


def field_errors(location: str, error: pydantic.ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in item["loc"]) or location,
            "location": location,
            "message": message(item),
        }
        for item in error.errors(include_url=False)
    ]


def message(item: Any) -> str:
    text: str = item["msg"]
    if item["type"] == "string_pattern_mismatch":
        return PATTERN_MESSAGES.get(item["ctx"]["pattern"], text)
    return text


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    if exc.status_code in {204, 304}:
        return Response(status_code=exc.status_code, headers=exc.headers)
    response = problem(exc.status_code, exc.detail)
    response.headers.update(exc.headers or {})
    return response


async def request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    return problem(
        422, f"The request {exc.location} is invalid.", field_errors(exc.location, exc.error)
    )


async def database_unavailable(request: Request, exc: Exception) -> Response:
    response = problem(503, "The database is unavailable; try again shortly.")
    response.headers["Retry-After"] = "5"
    return response


async def jobs_unavailable(request: Request, exc: Exception) -> Response:
    # The queue is unreachable, or full: the message says which.
    said = str(exc)
    response = problem(503, f"{said[:1].upper()}{said[1:]}; try again shortly.")
    response.headers["Retry-After"] = "5"
    return response


async def outcome_unknown(request: Request, exc: Exception) -> Response:
    response = problem(
        503,
        "The database connection was lost while this write was committed, so it may or may not "
        "have been stored. Retry with the same Idempotency-Key header to get its outcome without "
        "writing twice; without one, look before writing again.",
    )
    response.headers["Retry-After"] = "5"
    return response


async def client_disconnect(request: Request, exc: Exception) -> Response:
    # The client went away mid-body, or the server could not read the body (a bad chunked
    # encoding): the client's fault, and nobody may be listening for the answer.
    logger.warning(ENDED_EARLY, request.method, request.url.path)
    return problem(400, "The request body ended before it was complete.")


async def server_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises the exception after this response is sent, so the server logs it.
    # The response skips every middleware on its way out, so it brings its own headers.
    response = problem(500, "The server failed to handle this request.")
    response.raw_headers.extend(security_headers(request.scope))
    return response


handlers: dict[Any, ExceptionHandler] = {
    HTTPException: http_exception,
    RequestValidationError: request_validation,
    DatabaseUnavailable: database_unavailable,
    QueueFull: jobs_unavailable,
    QueueUnavailable: jobs_unavailable,
    OutcomeUnknown: outcome_unknown,
    ClientDisconnect: client_disconnect,
    Exception: server_error,
}
