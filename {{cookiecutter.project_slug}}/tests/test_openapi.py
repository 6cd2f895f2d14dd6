from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.openapi import api_routes


def spec(client: TestClient, app: Starlette) -> dict[str, Any]:
    response = client.get(app.url_path_for("openapi"))
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_document_is_valid_openapi(client: TestClient, app: Starlette) -> None:
    validate(spec(client, app))


def test_every_api_route_and_method_is_described(client: TestClient, app: Starlette) -> None:
    paths = spec(client, app)["paths"]

    described = {(path, method.upper()) for path, item in paths.items() for method in item}
    routed = {
        (route.path.replace(":int", ""), method)
        for route in api_routes(app.routes)
        for method in route.operations
    }
    assert described == routed
    assert ("/api/notes/{id}", "PATCH") in described


def test_responses_match_the_documented_statuses(client: TestClient, app: Starlette) -> None:
    paths = spec(client, app)["paths"]
    created = client.post("/api/notes", json={"title": "x"})
    calls = [
        ("post", "/api/notes", created.status_code),
        ("post", "/api/notes", client.post("/api/notes", json={}).status_code),
        ("get", "/api/notes", client.get("/api/notes").status_code),
        ("get", "/api/notes", client.get("/api/notes?limit=0").status_code),
        ("get", "/api/notes/{id}", client.get(f"/api/notes/{created.json()['id']}").status_code),
        ("get", "/api/notes/{id}", client.get("/api/notes/424242").status_code),
        ("patch", "/api/notes/{id}", client.patch("/api/notes/1", json={"x": 1}).status_code),
        ("delete", "/api/notes/{id}", client.delete("/api/notes/1").status_code),
    ]

    for method, path, status in calls:
        assert str(status) in paths[path][method]["responses"], (method, path, status)


def test_docs_page_lists_every_operation(client: TestClient, app: Starlette) -> None:
    response = client.get(app.url_path_for("docs"))

    assert response.status_code == 200
    for path, item in spec(client, app)["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in response.text
