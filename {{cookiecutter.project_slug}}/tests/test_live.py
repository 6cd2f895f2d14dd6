from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect


def test_each_change_is_pushed_to_every_client(client: TestClient, app: Starlette) -> None:
    path = app.url_path_for("notes_socket")
    with client.websocket_connect(path) as first, client.websocket_connect(path) as second:
        # A ping round trip proves both sockets are subscribed before anything is published.
        for socket in (first, second):
            socket.send_json({"type": "ping"})
            assert socket.receive_json() == {"type": "pong"}

        note = client.post(app.url_path_for("notes"), json={"title": "Live"}).json()
        client.patch(app.url_path_for("note", id=note["id"]), json={"title": "Changed"})
        client.delete(app.url_path_for("note", id=note["id"]))

        for socket in (first, second):
            created, updated, deleted = (socket.receive_json() for _ in range(3))
            assert created == {"type": "note.created", "note": note}
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
        good.send_json({"type": "ping"})
        assert good.receive_json() == {"type": "pong"}

        bad.send_text(frame)
        with pytest.raises(WebSocketDisconnect) as closed:
            bad.receive_text()
        assert closed.value.code == 1008
        assert "ping" in closed.value.reason

        note = client.post(app.url_path_for("notes"), json={"title": "Still here"}).json()
        assert good.receive_json() == {"type": "note.created", "note": note}
        good.send_json({"type": "ping"})
        assert good.receive_json() == {"type": "pong"}


def test_binary_frame_closes_the_socket(client: TestClient, app: Starlette) -> None:
    with client.websocket_connect(app.url_path_for("notes_socket")) as socket:
        socket.send_bytes(b"\x00\x01")
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text()
    assert closed.value.code == 1008
