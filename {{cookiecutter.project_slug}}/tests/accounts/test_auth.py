from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from {{ cookiecutter.package_name }}.accounts.settings import load_auth
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.settings import Settings, SettingsError

from ..conftest import settle
from ..problems import assert_problem
from .forms import csrf_of, other_user, sign_out


def new_note(client: TestClient, app: Starlette, title: str = "Mine") -> dict[str, object]:
    response = client.post(app.url_path_for("notes"), json={"title": title})
    assert response.status_code == 201, response.text
    note: dict[str, object] = response.json()
    return note


def test_the_api_needs_a_user(client: TestClient, app: Starlette) -> None:
    sign_out(client)

    for method in ("GET", "POST"):
        response = client.request(method, app.url_path_for("notes"), json={"title": "x"})
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


def test_the_page_sends_the_anonymous_to_sign_in(client: TestClient, app: Starlette) -> None:
    sign_out(client)

    response = client.get(app.url_path_for("home"), follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2F"


def test_public_paths_need_no_user(client: TestClient, app: Starlette) -> None:
    sign_out(client)

    for name in ("health_live", "openapi", "docs", "sign_in_form", "sign_up_form"):
        assert client.get(app.url_path_for(name)).status_code == 200, name


def test_an_anonymous_websocket_is_refused(client: TestClient, app: Starlette) -> None:
    sign_out(client)

    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect(app.url_path_for("notes_socket")):
            pass


def test_a_cookie_authenticated_write_needs_the_csrf_token(
    client: TestClient, app: Starlette
) -> None:
    token = client.headers.pop("X-CSRF-Token")

    refused = client.post(app.url_path_for("notes"), json={"title": "Forged"})
    wrong = client.post(
        app.url_path_for("notes"), json={"title": "Forged"}, headers={"X-CSRF-Token": "x" + token}
    )

    assert_problem(refused, 403)
    assert_problem(wrong, 403)
    assert client.get(app.url_path_for("notes")).json()["items"] == []  # reads need none
    assert (
        client.post(
            app.url_path_for("notes"), json={"title": "Mine"}, headers={"X-CSRF-Token": token}
        ).status_code
        == 201
    )


def test_a_user_sees_and_changes_only_their_own_notes(client: TestClient, app: Starlette) -> None:
    mine = new_note(client, app, "Mine")
    other = other_user(client)
    theirs = client.post(app.url_path_for("notes"), json={"title": "Theirs"}, headers=other).json()

    url = app.url_path_for("note", id=mine["id"])
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(method, url, json={"title": "Stolen"}, headers=other)
        assert_problem(response, 404)  # not 403: whether the note exists is not told
    listed = client.get(app.url_path_for("notes"), params={"total": "true"}, headers=other).json()
    assert [note["id"] for note in listed["items"]] == [theirs["id"]]
    assert listed["total"] == 1

    assert client.get(url).json()["title"] == "Mine"
    assert_problem(client.get(app.url_path_for("note", id=theirs["id"])), 404)
    assert "Theirs" not in client.get(app.url_path_for("home")).text


def test_a_user_exports_and_downloads_only_their_own_notes(
    client: TestClient, app: Starlette
) -> None:
    new_note(client, app, "Mine")
    other = other_user(client)
    client.post(app.url_path_for("notes"), json={"title": "Theirs"}, headers=other)

    started = client.post(app.url_path_for("exports")).json()
    settle(client)
    for name in ("export", "export_file"):
        assert_problem(client.get(app.url_path_for(name, id=started["id"]), headers=other), 404)
    file = client.get(app.url_path_for("export_file", id=started["id"])).json()
    assert [note["title"] for note in file["notes"]] == ["Mine"]


def test_a_socket_gets_only_its_users_events(client: TestClient, app: Starlette) -> None:
    path = app.url_path_for("notes_socket")
    other = other_user(client)
    with client.websocket_connect(path, headers=other) as theirs:
        with client.websocket_connect(path) as mine:
            client.post(app.url_path_for("notes"), json={"title": "Theirs"}, headers=other)
            note = new_note(client, app, "Mine")

            assert mine.receive_json()["note"] == note
            assert theirs.receive_json()["note"]["title"] == "Theirs"
            theirs.send_json({"type": "ping"})
            assert theirs.receive_json() == {"type": "pong"}  # "Mine" never reached it


def test_signing_out_closes_the_users_sockets(client: TestClient, app: Starlette) -> None:
    path = app.url_path_for("notes_socket")
    other = other_user(client)
    with client.websocket_connect(path, headers=other) as theirs:
        with client.websocket_connect(path) as mine:
            csrf = csrf_of(client.get(app.url_path_for("home")).text)

            client.post(app.url_path_for("sign_out"), data={"csrf_token": csrf})

            with pytest.raises(WebSocketDisconnect) as closed:
                mine.receive_json()
            assert (closed.value.code, closed.value.reason) == (1008, "Signed out.")
        theirs.send_json({"type": "ping"})
        assert theirs.receive_json() == {"type": "pong"}
    assert client.get(app.url_path_for("notes")).status_code == 401


@pytest.mark.parametrize(
    ("key", "sentence"),
    [
        (None, "SECRET_KEY is not set; add it to .env or the environment (see .env.example)."),
        ("changeme", "SECRET_KEY is too weak to sign sessions: set it to at least 32 random"),
        ("a" * 64, "SECRET_KEY is too weak to sign sessions: set it to at least 32 random"),
    ],
)
def test_secret_key_must_be_present_and_strong(
    key: str | None, sentence: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("SECRET_KEY", raising=False)
    values = {} if key is None else {"secret_key": key}

    with pytest.raises(SettingsError) as refused:
        load_auth(**values)

    assert str(refused.value).startswith(sentence)
    assert str(refused.value).count(". ") == 0  # one sentence


def test_the_app_refuses_to_start_without_a_secret_key(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)

    with pytest.raises(SettingsError, match="SECRET_KEY is not set"):
        create_app(settings)


def test_request_user_and_requires_work_as_in_starlette(client: TestClient, app: Starlette) -> None:
    @requires("authenticated")
    async def whoami(request: Request) -> Response:
        user = {"email": request.user.display_name, "id": request.user.identity}
        return JSONResponse({**user, "scopes": request.auth.scopes})

    @requires("token")
    async def token_only(request: Request) -> Response:
        return JSONResponse({})

    app.router.routes[:0] = [Route("/api/whoami", whoami), Route("/api/token-only", token_only)]
    session = client.get("/api/whoami")
    assert session.status_code == 200
    assert session.json()["scopes"] == ["authenticated", "session"]
    assert session.json()["email"].endswith("@example.com")
    assert client.get("/api/token-only").status_code == 403  # requires() refuses a session

    token = client.post(app.url_path_for("tokens"), json={"name": "t"}).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/whoami", headers=bearer).json()["scopes"] == ["authenticated", "token"]
    assert client.get("/api/token-only", headers=bearer).status_code == 200
    sign_out(client)
    assert_problem(client.get("/api/whoami"), 401)
