"""Every HTTP answer carries the browser security headers, errors and refusals included."""

from __future__ import annotations

from collections.abc import Callable

import httpx2 as httpx
from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.settings import Settings

Call = Callable[[TestClient, Starlette], httpx.Response]


def assert_secured(response: httpx.Response) -> None:
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


CALLS: dict[str, tuple[int, Call]] = {
    "page": (200, lambda c, a: c.get(a.url_path_for("home"))),
    "api": (200, lambda c, a: c.get(a.url_path_for("notes"))),
    "docs": (200, lambda c, a: c.get(a.url_path_for("docs"))),
    "openapi": (200, lambda c, a: c.get(a.url_path_for("openapi"))),
    "static": (200, lambda c, a: c.get(a.url_path_for("static", path="app.js"))),
    "not found": (404, lambda c, a: c.get(a.url_path_for("note", id=424242))),
    "wrong method": (405, lambda c, a: c.put(a.url_path_for("notes"))),
    "too large": (413, lambda c, a: c.post(a.url_path_for("notes"), json={"t": "x" * 2**18})),
    "not json": (415, lambda c, a: c.post(a.url_path_for("notes"), content=b"x")),
    "invalid": (422, lambda c, a: c.post(a.url_path_for("notes"), json={})),
    "bad host": (
        400,
        lambda c, a: c.get(a.url_path_for("notes"), headers={"host": "evil.example"}),
    ),
}


def test_every_answer_has_the_security_headers(client: TestClient, app: Starlette) -> None:
    for name, (status, call) in CALLS.items():
        response = call(client, app)

        assert response.status_code == status, name
        assert_secured(response)
        assert "strict-transport-security" not in response.headers


def test_hsts_only_over_tls(caller: dict[str, str], settings: Settings) -> None:
    with TestClient(create_app(settings), base_url="https://testserver", headers=caller) as client:
        response = client.get("/health/live")

    assert_secured(response)
    assert response.headers["strict-transport-security"].startswith("max-age=")
