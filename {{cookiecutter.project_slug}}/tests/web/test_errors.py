from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

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
