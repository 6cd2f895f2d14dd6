"""Request guards: the body size limit and CORS (the Host check is in test_hosts.py)."""

from __future__ import annotations

from collections.abc import Iterator

from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.settings import Settings

from ..problems import assert_problem


def chunks(total: int, size: int = 1024) -> Iterator[bytes]:
    yield b'{"title": "padded"'
    for _ in range(total // size):
        yield b" " * size
    yield b"}"


def test_a_body_over_the_limit_is_refused_by_its_length(client: TestClient, app: Starlette) -> None:
    padded = b'{"title": "padded"' + b" " * 200_000 + b"}"

    response = client.post(
        app.url_path_for("notes"), content=padded, headers={"content-type": "application/json"}
    )

    assert "131072 bytes" in assert_problem(response, 413)["detail"]
    assert client.get(app.url_path_for("notes")).json()["items"] == []


def test_a_chunked_body_over_the_limit_is_refused_as_it_arrives(
    client: TestClient, app: Starlette
) -> None:
    response = client.post(
        app.url_path_for("notes"),
        content=chunks(200_000),
        headers={"content-type": "application/json"},
    )

    assert "content-length" not in response.request.headers
    assert_problem(response, 413)
    assert client.get(app.url_path_for("notes")).json()["items"] == []


def test_a_body_within_the_limit_is_read(caller: dict[str, str], settings: Settings) -> None:
    small = settings.model_copy(update={"max_body_size": 4096})
    with TestClient(create_app(small), headers=caller) as client:
        headers = {"content-type": "application/json"}
        fits = client.post("/api/notes", content=b"".join(chunks(3000)), headers=headers)
        chunked = client.post("/api/notes", content=chunks(3000), headers=headers)
        too_big = client.post("/api/notes", content=b"".join(chunks(5000)), headers=headers)

    assert (fits.status_code, chunked.status_code, too_big.status_code) == (201, 201, 413)


def preflight(client: TestClient, app: Starlette, origin: str) -> tuple[int, str | None]:
    response = client.options(
        app.url_path_for("notes"),
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    return response.status_code, response.headers.get("access-control-allow-origin")


def test_cors_is_closed_by_default(client: TestClient, app: Starlette) -> None:
    status, allowed = preflight(client, app, "https://app.example.com")
    simple = client.get(app.url_path_for("notes"), headers={"origin": "https://app.example.com"})

    assert (status, allowed) == (405, None)
    assert "access-control-allow-origin" not in simple.headers


def test_cors_opens_to_the_configured_origins_only(
    caller: dict[str, str], settings: Settings
) -> None:
    opened = settings.model_copy(update={"cors_allow_origins": ("https://app.example.com",)})
    app = create_app(opened)
    with TestClient(app, headers=caller) as client:
        assert preflight(client, app, "https://app.example.com") == (200, "https://app.example.com")
        refused = client.options(
            app.url_path_for("notes"),
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        created = client.post(
            app.url_path_for("notes"),
            json={"title": "x"},
            headers={"origin": "https://app.example.com"},
        )

    assert "origin" in assert_problem(refused, 400)["detail"]
    assert "access-control-allow-origin" not in refused.headers
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "location" in created.headers["access-control-expose-headers"].lower()


def test_a_page_on_an_allowed_origin_can_read_the_413(
    caller: dict[str, str], settings: Settings
) -> None:
    opened = settings.model_copy(
        update={"cors_allow_origins": ("https://app.example.com",), "max_body_size": 4096}
    )
    app = create_app(opened)
    with TestClient(app, headers=caller) as client:
        response = client.post(
            app.url_path_for("notes"),
            content=b"".join(chunks(5000)),
            headers={"content-type": "application/json", "origin": "https://app.example.com"},
        )

    assert "4096 bytes" in assert_problem(response, 413)["detail"]
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
