"""The account page: a new token shown once after its form, revoking, and the page's times."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
from starlette.applications import Starlette
from starlette.testclient import TestClient

from .forms import csrf_of, new_email, sign_out, sign_up

NEW_TOKEN = re.compile(r'<code id="new-token">([^<]+)</code>')
TIME = re.compile(r'<time datetime="([^"]+)">([^<]+)</time>')


def create_token(client: TestClient, app: Starlette, name: str) -> httpx.Response:
    page = client.get(app.url_path_for("account"))
    fields = {"name": name, "csrf_token": csrf_of(page.text)}
    return client.post(app.url_path_for("create_token"), data=fields, follow_redirects=False)


def test_a_new_token_is_shown_once_on_the_page_after_the_form(
    client: TestClient, app: Starlette
) -> None:
    sign_up(client, new_email())

    created = create_token(client, app, "laptop")
    shown = client.get(created.headers["location"], follow_redirects=False)
    again = client.get(created.headers["location"], follow_redirects=False)

    assert created.status_code == 303 and NEW_TOKEN.search(created.text) is None
    assert created.headers["location"] == app.url_path_for("new_token")
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    found = NEW_TOKEN.search(shown.text)
    assert found is not None, shown.text
    token = found.group(1)
    assert token.startswith("pat_") and token not in str(shown.url)
    assert again.status_code == 303 and again.headers["location"] == app.url_path_for("account")
    assert token not in client.get(app.url_path_for("account")).text
    listed = client.get(app.url_path_for("tokens")).json()["items"]
    assert [item["name"] for item in listed] == ["laptop"]  # reloading made no other
    sign_out(client)
    notes = client.get(app.url_path_for("notes"), headers={"Authorization": f"Bearer {token}"})
    assert notes.status_code == 200


def test_the_account_page_revokes_a_token(client: TestClient, app: Starlette) -> None:
    sign_up(client, new_email())
    create_token(client, app, "old")
    [listed] = client.get(app.url_path_for("tokens")).json()["items"]
    page = client.get(app.url_path_for("account"))

    revoked = client.post(
        app.url_path_for("revoke_token", id=listed["id"]),
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )

    assert revoked.status_code == 303
    assert client.get(app.url_path_for("tokens")).json()["items"] == []


def test_the_token_form_needs_its_csrf_token(client: TestClient, app: Starlette) -> None:
    sign_up(client, new_email())
    client.headers.pop("X-CSRF-Token")  # a form posted from another site carries no header

    for token in ("", "forged"):
        fields = {"name": "stolen", "csrf_token": token}
        assert client.post(app.url_path_for("create_token"), data=fields).status_code == 403
    assert client.get(app.url_path_for("tokens")).json()["items"] == []


def test_the_account_page_writes_its_times_for_people_and_for_the_script(
    client: TestClient, app: Starlette
) -> None:
    sign_up(client, new_email())
    created = create_token(client, app, "script")
    found = NEW_TOKEN.search(client.get(created.headers["location"]).text)
    assert found is not None
    unused = client.get(app.url_path_for("account")).text
    bearer = {"Authorization": f"Bearer {found.group(1)}"}
    assert client.get(app.url_path_for("notes"), headers=bearer).status_code == 200

    page = client.get(app.url_path_for("account")).text

    assert "never used" in unused and len(TIME.findall(unused)) == 1
    assert "never used" not in page
    for instant, text in TIME.findall(page):  # when it was made, and last used
        moment = datetime.strptime(instant, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs(datetime.now(UTC) - moment) < timedelta(minutes=5)
        assert text == f"{moment.day} {moment:%b %Y, %H:%M} UTC"  # e.g. "2 Dec 2026, 15:20 UTC"
    assert len(TIME.findall(page)) == 2
    script = app.url_path_for("static", path="account.js")
    assert f'{script}"></script>' in page  # a file of the site's own: no inline script
    assert "Intl.DateTimeFormat" in client.get(script).text
