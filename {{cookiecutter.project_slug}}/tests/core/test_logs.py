from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.core.logs import formatter


async def fail(request: Request) -> Response:
    logging.getLogger("{{ cookiecutter.package_name }}.test").warning("About to fail")
    raise RuntimeError("the secret cause")


@pytest.fixture
def failing(app: Starlette) -> Starlette:
    app.router.routes.append(Route("/fail", fail, name="fail"))
    return app


def capture(debug: bool) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(debug))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    yield from capture(debug=False)


@pytest.fixture
def readable_lines() -> Iterator[io.StringIO]:
    yield from capture(debug=True)


def test_a_safe_request_id_is_kept_and_echoed(client: TestClient, app: Starlette) -> None:
    response = client.get(app.url_path_for("health_live"), headers={"X-Request-ID": "abc-123.x:y"})

    assert response.headers["x-request-id"] == "abc-123.x:y"


@pytest.mark.parametrize("given", [None, "x" * 129, "has space", "new\\nline", "<script>"])
def test_a_missing_or_unsafe_request_id_is_replaced(
    client: TestClient, app: Starlette, given: str | None
) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    first = client.get(app.url_path_for("health_live"), headers=headers)
    second = client.get(app.url_path_for("health_live"), headers=headers)

    generated = first.headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert second.headers["x-request-id"] != generated


def test_a_failure_is_logged_once_with_its_request_id_and_not_sent(
    failing: Starlette, json_lines: io.StringIO, caller: dict[str, str]
) -> None:
    with TestClient(failing, headers=caller) as client:
        response = client.get(failing.url_path_for("fail"), headers={"X-Request-ID": "req-1"})

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "req-1"
    assert "secret cause" not in response.text and "Traceback" not in response.text
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    mine = [line for line in lines if line.get("request_id") == "req-1"]
    assert [line["level"] for line in mine] == ["warning", "error"]
    assert mine[0]["event"] == "About to fail"
    assert "RuntimeError: the secret cause" in mine[1]["exception"]
    assert sum("Traceback" in line.get("exception", "") for line in lines) == 1


def test_development_lines_are_readable_and_carry_the_request_id(
    failing: Starlette, readable_lines: io.StringIO, caller: dict[str, str]
) -> None:
    with TestClient(failing, headers=caller) as client:
        client.get(failing.url_path_for("fail"), headers={"X-Request-ID": "req-2"})

    text = readable_lines.getvalue()
    warning = next(line for line in text.splitlines() if "About to fail" in line)
    assert "request_id=req-2" in warning and not warning.startswith("{")
    assert "RuntimeError: the secret cause" in text
