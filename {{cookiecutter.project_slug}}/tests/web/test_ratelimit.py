from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.settings import Settings

from ..problems import assert_problem


def test_writes_over_the_rate_get_429_with_retry_after(
    caller: dict[str, str], settings: Settings
) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_writes": "2/minute"}))
    with TestClient(app, headers=caller) as client:
        first = client.post(app.url_path_for("notes"), json={"title": "one"})
        second = client.patch(app.url_path_for("note", id=first.json()["id"]), json={"body": "b"})
        refused = client.post(app.url_path_for("notes"), json={"title": "three"})
        deleted = client.delete(app.url_path_for("note", id=first.json()["id"]))
        listing = client.get(app.url_path_for("notes")).json()

    assert (first.status_code, second.status_code) == (201, 200)
    assert "2 per 1 minute" in assert_problem(refused, 429)["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert_problem(deleted, 429)
    assert [note["title"] for note in listing["items"]] == ["one"]  # reads are not limited


def test_no_limit_by_default(client: TestClient, app: Starlette) -> None:
    url = app.url_path_for("notes")
    statuses = {client.post(url, json={"title": f"n{n}"}).status_code for n in range(70)}

    assert statuses == {201}
