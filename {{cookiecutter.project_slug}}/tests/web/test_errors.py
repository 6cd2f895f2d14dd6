from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message

from .test_security import assert_secured


async def broken(request: Request) -> Response:
    raise RuntimeError("something the code did not expect")


def test_unexpected_exception_is_a_json_500_without_details(
    caller: dict[str, str], app: Starlette
) -> None:
    app.router.routes.append(Route("/api/broken", broken, name="broken"))

    with TestClient(app, raise_server_exceptions=False, headers=caller) as client:
        response = client.get(app.url_path_for("broken"))

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Internal Server Error"
    assert "something the code did not expect" not in response.text
    assert_secured(response)  # sent past every middleware, it brings its own headers


def disconnected(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Message:
    """Send `path` to the app of the running `client` as a server would for a client that
    went away (or sent a body the server could not read) before the body ended; return the
    response's start."""
    sent: list[Message] = []
    parts: list[Message] = [
        {"type": "http.request", "body": b'{"title": "cut sh', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return parts.pop(0) if parts else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
            *((name.lower().encode(), value.encode()) for name, value in headers.items()),
        ],
        "state": client.app_state.copy(),
    }
    assert client.portal is not None
    client.portal.call(client.app, scope, receive, send)
    return sent[0]


def test_a_body_cut_short_is_a_400_and_a_warning_not_an_error(
    caller: dict[str, str], app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(app, headers=caller) as client:
        start = disconnected(client, "POST", app.url_path_for("notes"), caller)

    assert start["status"] == 400
    assert dict(start["headers"])[b"content-type"] == b"application/problem+json"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert any("before its body ended" in record.getMessage() for record in caplog.records)
