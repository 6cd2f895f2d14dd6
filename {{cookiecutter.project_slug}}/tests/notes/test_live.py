from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.events import Events
from {{ cookiecutter.package_name }}.core.settings import Settings
from {{ cookiecutter.package_name }}.web.sockets import say_goodbye


def ping(*sockets: WebSocketTestSession) -> None:
    """A ping round trip proves each socket is open and subscribed."""
    for socket in sockets:
        socket.send_json({"type": "ping"})
        assert socket.receive_json() == {"type": "pong"}


def test_each_change_is_pushed_to_every_client(client: TestClient, app: Starlette) -> None:
    path = app.url_path_for("notes_socket")
    with client.websocket_connect(path) as first, client.websocket_connect(path) as second:
        ping(first, second)

        note = client.post(app.url_path_for("notes"), json={"title": "Live"}).json()
        client.patch(app.url_path_for("note", id=note["id"]), json={"title": "Changed"})
        client.delete(app.url_path_for("note", id=note["id"]))

        events = [first.receive_json() for _ in range(3)]
        assert [second.receive_json() for _ in range(3)] == events  # ids included
        created, updated, deleted = events
        assert len({event.pop("id") for event in events}) == 3  # each event has its own
        assert (created["type"], created["note"]) == ("note.created", note)
        assert updated["type"] == "note.updated"
        assert updated["note"]["title"] == "Changed"
        assert deleted["type"] == "note.deleted"
        assert deleted["note"]["id"] == note["id"]


@pytest.mark.parametrize(
    "frame", ["not json", '{"type": "shout"}', '{"type": "ping", "extra": 1}', "[]", "{}"]
)
def test_bad_frame_closes_only_that_socket(client: TestClient, app: Starlette, frame: str) -> None:
    path = app.url_path_for("notes_socket")
    with client.websocket_connect(path) as good, client.websocket_connect(path) as bad:
        ping(good)

        bad.send_text(frame)
        with pytest.raises(WebSocketDisconnect) as closed:
            bad.receive_text()
        assert closed.value.code == 1008
        assert "ping" in closed.value.reason

        note = client.post(app.url_path_for("notes"), json={"title": "Still here"}).json()
        assert good.receive_json()["note"] == note
        ping(good)


def test_binary_frame_closes_the_socket(client: TestClient, app: Starlette) -> None:
    with client.websocket_connect(app.url_path_for("notes_socket")) as socket:
        socket.send_bytes(b"\x00\x01")
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text()
    assert closed.value.code == 1008


def on_app_loop(client: TestClient, function: Callable[..., Awaitable[None]], *args: Any) -> None:
    assert client.portal is not None  # set while the client is open
    client.portal.call(function, *args)


def settings_with(settings: Settings, **changes: object) -> Settings:
    return Settings(**{**settings.model_dump(), **changes, "_env_file": None})


def test_oversized_message_closes_only_that_socket_with_1009(
    client: TestClient, app: Starlette, settings: Settings
) -> None:
    path = app.url_path_for("notes_socket")
    limit = settings.websocket_max_size
    with client.websocket_connect(path) as good, client.websocket_connect(path) as big:
        big.send_text('{"type": "ping", "padding": "' + "x" * limit + '"}')
        with pytest.raises(WebSocketDisconnect) as closed:
            big.receive_text()
        assert closed.value.code == 1009
        assert str(limit) in closed.value.reason

        ping(good)


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "null",
        "http://testserver.evil.example",
        "ws://testserver",
        "http://[",
    ],
)
def test_page_from_another_site_is_refused(client: TestClient, app: Starlette, origin: str) -> None:
    # Closed before the handshake completes: servers answer 403 (tests/test_live_server.py).
    path = app.url_path_for("notes_socket")
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect(path, headers={"origin": origin}):
            pass


@pytest.mark.parametrize("origin", [None, "http://testserver", "https://testserver:8443"])
def test_own_pages_and_non_browsers_may_connect(
    client: TestClient, app: Starlette, origin: str | None
) -> None:
    headers = {"origin": origin} if origin else {}
    with client.websocket_connect(app.url_path_for("notes_socket"), headers=headers) as socket:
        ping(socket)


def test_allowed_origins_replace_the_default(caller: dict[str, str], settings: Settings) -> None:
    app = create_app(settings_with(settings, websocket_allowed_origins="https://App.example"))
    path = app.url_path_for("notes_socket")
    with TestClient(app, headers=caller) as client:
        with client.websocket_connect(path, headers={"origin": "https://app.example"}) as socket:
            ping(socket)
        with pytest.raises(WebSocketDisconnect):
            with client.websocket_connect(path, headers={"origin": "http://testserver"}):
                pass


def test_client_that_falls_behind_is_closed_with_1013(
    caller: dict[str, str], settings: Settings
) -> None:
    app = create_app(settings_with(settings, websocket_queue_size=2))
    with (
        TestClient(app, headers=caller) as client,
        client.websocket_connect(app.url_path_for("notes_socket")) as socket,
    ):
        ping(socket)
        events: Events = client.app_state["events"]

        async def burst() -> None:  # faster than any socket can be written to
            for number in range(50):
                await events.publish({"type": "note.deleted", "note": {"id": number}})

        on_app_loop(client, burst)
        received = 0
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                socket.receive_json()
                received += 1
    assert closed.value.code == 1013
    assert received < 50


def test_shutdown_closes_every_socket_with_1001(client: TestClient, app: Starlette) -> None:
    path = app.url_path_for("notes_socket")
    with client.websocket_connect(path) as first, client.websocket_connect(path) as second:
        ping(first, second)

        on_app_loop(client, say_goodbye, client.app_state["connections"])

        for socket in (first, second):
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_text()
            assert closed.value.code == 1001
