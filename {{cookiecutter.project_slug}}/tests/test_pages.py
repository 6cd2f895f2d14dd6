from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient


def test_home_lists_notes_escaped(client: TestClient, app: Starlette) -> None:
    client.post(app.url_path_for("notes"), json={"title": "<b>Bold</b> move", "body": "text"})

    response = client.get(app.url_path_for("home"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "&lt;b&gt;Bold&lt;/b&gt; move" in response.text
    assert "<b>Bold</b>" not in response.text
    assert app.url_path_for("notes_socket") in response.text


def test_page_assets_are_served(client: TestClient, app: Starlette) -> None:
    for name, kind in [("app.js", "javascript"), ("style.css", "text/css")]:
        response = client.get(app.url_path_for("static", path=name))
        assert response.status_code == 200
        assert kind in response.headers["content-type"]
