from __future__ import annotations

import html
import re
import time
from datetime import datetime

from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.web.about import TITLE


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


def test_home_shows_the_newest_hundred_newest_first(client: TestClient, app: Starlette) -> None:
    for number in range(1, 103):
        client.post(app.url_path_for("notes"), json={"title": f"note {number}."})

    page = client.get(app.url_path_for("home")).text

    assert "note 1." not in page and "note 2." not in page
    assert page.index("note 102.") < page.index("note 101.") < page.index("note 3.")


def test_home_carries_the_project_name(client: TestClient, app: Starlette) -> None:
    page = client.get(app.url_path_for("home")).text

    # The page escapes the name (an apostrophe or an ampersand in it is an entity there).
    (title,) = re.findall(r"<title>(.*?)</title>", page, re.DOTALL)
    (heading,) = re.findall(r"<h1>(.*?)</h1>", page, re.DOTALL)
    assert html.unescape(title) == html.unescape(heading) == TITLE


def test_home_shows_each_notes_timestamps_and_actions(client: TestClient, app: Starlette) -> None:
    note = client.post(app.url_path_for("notes"), json={"title": "Timed"}).json()

    page = client.get(app.url_path_for("home")).text

    (shown,) = re.findall(r'<time datetime="([^"]+)">', page)  # created; updated is the same
    assert datetime.fromisoformat(shown) == datetime.fromisoformat(note["created_at"])
    assert 'data-action="edit"' in page and 'data-action="delete"' in page


def test_home_shows_when_a_note_was_updated(client: TestClient, app: Starlette) -> None:
    note = client.post(app.url_path_for("notes"), json={"title": "Timed"}).json()
    time.sleep(1.1)  # timestamps have whole seconds on some databases
    changed = client.patch(app.url_path_for("note", id=note["id"]), json={"body": "b"}).json()

    page = client.get(app.url_path_for("home")).text

    created, updated = re.findall(r'<time datetime="([^"]+)">', page)
    assert datetime.fromisoformat(updated) == datetime.fromisoformat(changed["updated_at"])
    assert datetime.fromisoformat(updated) > datetime.fromisoformat(created)
    assert ", updated <time" in page
