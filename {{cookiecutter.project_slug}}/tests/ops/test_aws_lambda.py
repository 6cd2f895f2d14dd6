"""The Lambda handler, driven with API Gateway HTTP API (payload 2.0) events."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from mangum.types import LambdaCognitoIdentity, LambdaMobileClientContext
from starlette.applications import Starlette

from {{ cookiecutter.package_name }}.ops import aws_lambda

HOST = "abc123.execute-api.eu-west-1.amazonaws.com"


@dataclass
class Context:
    """Lambda's context object, with the values a function in eu-west-1 would see."""

    function_name: str = "{{ cookiecutter.project_slug }}"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:{{ cookiecutter.project_slug }}"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    log_group_name: str = "/aws/lambda/{{ cookiecutter.project_slug }}"
    log_stream_name: str = "2025/03/10/[$LATEST]0123456789abcdef"
    identity: LambdaCognitoIdentity | None = None
    client_context: LambdaMobileClientContext | None = None

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def http_api_event(
    method: str, path: str, caller: dict[str, str], body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An API Gateway HTTP API v2 event, as the service sends it to Lambda, with the headers
    of the suite's caller (tests/callers.py)."""
    payload = json.dumps(body) if body is not None else None
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "cookies": [],
        "headers": {
            "accept": "application/json",
            "content-type": "application/json",
            "host": HOST,
            "user-agent": "curl/8.5.0",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            **{name.lower(): value for name, value in caller.items()},
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": HOST,
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "10/Mar/2025:12:00:00 +0000",
            "timeEpoch": 1741608000000,
        },
        "body": payload,
        "isBase64Encoded": False,
    }


def decoded(response: dict[str, Any]) -> Any:
    body: str = response["body"]
    if response["isBase64Encoded"]:
        body = base64.b64decode(body).decode()
    return json.loads(body)


@pytest.fixture
def lambda_environment(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The function's environment variables, pointing at this test's database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ALLOWED_HOSTS", HOST)
    aws_lambda.default_handler.cache_clear()
    yield
    aws_lambda.default_handler.cache_clear()
    # Mangum runs each event on an event loop of its own making; close it with the test.
    asyncio.get_event_loop_policy().get_event_loop().close()


def test_handler_creates_a_note_and_reads_it_back(
    lambda_environment: None, app: Starlette, caller: dict[str, str]
) -> None:
    notes = app.url_path_for("notes")
    payload = {"title": "From Lambda", "body": "via API Gateway"}

    created = aws_lambda.handler(http_api_event("POST", notes, caller, payload), Context())
    assert created["statusCode"] == 201, created
    note = decoded(created)
    assert note["title"] == "From Lambda"
    path = app.url_path_for("note", id=note["id"])
    assert created["headers"]["location"] == f"https://{HOST}{path}"

    read = aws_lambda.handler(http_api_event("GET", path, caller), Context())
    assert read["statusCode"] == 200
    assert decoded(read) == note


def test_handler_answers_invalid_input_with_a_problem(
    lambda_environment: None, app: Starlette, caller: dict[str, str]
) -> None:
    event = http_api_event("POST", app.url_path_for("notes"), caller, {"body": "no title"})

    response = aws_lambda.handler(event, Context())

    assert response["statusCode"] == 422
    assert response["headers"]["content-type"] == "application/problem+json"
    assert [error["field"] for error in decoded(response)["errors"]] == ["title"]
