from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient


def test_the_icon_is_where_browsers_look_for_it(client: TestClient, app: Starlette) -> None:
    moved = client.get("/favicon.ico", follow_redirects=False)

    assert moved.status_code == 301
    icon = client.get(moved.headers["location"])
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    page = client.get(app.url_path_for("docs")).text
    assert 'rel="icon"' in page
