from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.web import about
from {{ cookiecutter.package_name }}.web.openapi import api_routes, openapi_path


def spec(client: TestClient, app: Starlette) -> dict[str, Any]:
    response = client.get(app.url_path_for("openapi"))
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_document_is_valid_openapi(client: TestClient, app: Starlette) -> None:
    validate(spec(client, app))


def test_document_carries_the_project_name(client: TestClient, app: Starlette) -> None:
    assert spec(client, app)["info"]["title"] == about.TITLE


def test_every_api_route_and_method_is_described(client: TestClient, app: Starlette) -> None:
    paths = spec(client, app)["paths"]

    described = {(path, method.upper()) for path, item in paths.items() for method in item}
    routed = {
        (openapi_path(route), method)
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


def test_docs_explorer_is_served_by_the_app_itself(client: TestClient, app: Starlette) -> None:
    page = client.get(app.url_path_for("docs")).text

    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        path = app.url_path_for("docs_assets", path=asset)
        assert f'{path}"' in page
        response = client.get(path)
        assert response.status_code == 200 and len(response.content) > 10_000
    assert '/static/docs.js"' in page
    assert "cdn" not in page.lower()


def body_schema(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    content = document["paths"][path][method]["requestBody"]["content"]["application/json"]
    return {**content["schema"], "components": document["components"]}


TITLES = ["ok", "  padded  ", "", "   ", "\t\n", "a\u0000b", "\x1c", "\ufeff", "x" * 200, "x" * 201]


def test_the_document_accepts_exactly_the_titles_the_api_accepts(
    client: TestClient, app: Starlette
) -> None:
    document = spec(client, app)
    note = client.post(app.url_path_for("notes"), json={"title": "first"}).json()

    for title in TITLES:
        created = client.post(app.url_path_for("notes"), json={"title": title})
        patched = client.patch(app.url_path_for("note", id=note["id"]), json={"title": title})
        for path, method, response in [
            ("/api/notes", "post", created),
            ("/api/notes/{id}", "patch", patched),
        ]:
            validator = jsonschema.Draft202012Validator(body_schema(document, path, method))
            accepted = response.status_code < 300
            assert validator.is_valid({"title": title}) == accepted, (title, response.text)
            assert str(response.status_code) in document["paths"][path][method]["responses"]


def test_path_ids_are_documented_as_the_route_matches_them(
    client: TestClient, app: Starlette
) -> None:
    (parameter,) = spec(client, app)["paths"]["/api/notes/{id}"]["get"]["parameters"]

    assert parameter["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    assert client.get(app.url_path_for("notes") + "/" + "9" * 11).status_code == 404


def test_body_and_write_refusals_are_documented(client: TestClient, app: Starlette) -> None:
    paths = spec(client, app)["paths"]

    for path, method in [("/api/notes", "post"), ("/api/notes/{id}", "patch")]:
        assert {"400", "413", "415", "422", "429"} <= set(paths[path][method]["responses"])
    assert "429" in paths["/api/notes/{id}"]["delete"]["responses"]
    assert "429" not in paths["/api/notes"]["get"]["responses"]


def test_the_version_is_the_one_pyproject_sets(client: TestClient, app: Starlette) -> None:
    pyproject = tomllib.loads(about.PYPROJECT.read_text())

    assert spec(client, app)["info"]["version"] == pyproject["project"]["version"]


def test_a_version_bump_reaches_the_document(
    client: TestClient, app: Starlette, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bumped = tmp_path / "pyproject.toml"
    bumped.write_text(
        about.PYPROJECT.read_text().replace("\nversion = ", '\nversion = "9.9.9"\n#', 1)
    )
    monkeypatch.setattr(about, "PYPROJECT", bumped)
    about.version.cache_clear()
    try:
        assert spec(client, app)["info"]["version"] == "9.9.9"
    finally:
        about.version.cache_clear()


def test_every_operation_is_tagged_by_its_feature(client: TestClient, app: Starlette) -> None:
    document = spec(client, app)
    operations = [op for path in document["paths"].values() for op in path.values()]

    assert all(len(operation["tags"]) == 1 for operation in operations)
    used = {operation["tags"][0] for operation in operations}
    assert {"notes", "health"} <= used
    assert [tag["name"] for tag in document["tags"]] == sorted(
        used, key=[tag["name"] for tag in document["tags"]].index
    )


def test_every_request_body_has_an_example_its_schema_accepts(
    client: TestClient, app: Starlette
) -> None:
    document = spec(client, app)
    bodies = [
        (path, op["requestBody"]["content"]["application/json"])
        for path, operations in document["paths"].items()
        for op in operations.values()
        if "requestBody" in op
    ]

    assert bodies
    for path, body in bodies:
        assert "example" in body, path
        name = body["schema"]["$ref"].rpartition("/")[2]
        schema = {**document["components"]["schemas"][name], "components": document["components"]}
        jsonschema.validate(body["example"], schema)
