"""The rendered project served for real by its start script, driven by real clients."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx2 as httpx
import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from .harness import CommandFailed, run

# The production servers scripts/start offers; each live test runs on both.
both_servers = pytest.mark.parametrize("server", ["granian", "uvicorn"], indirect=True)


@both_servers
def test_crud_round_trip_over_http(server: str) -> None:
    with httpx.Client(base_url=server, timeout=5) as client:
        created = client.post("/api/notes", json={"title": "Groceries", "body": "milk"})
        assert created.status_code == 201
        location = created.headers["location"]
        assert location == f"{server}/api/notes/{created.json()['id']}"

        assert client.get(location).json() == created.json()
        assert client.patch(location, json={"body": "oat milk"}).json()["body"] == "oat milk"
        listing = client.get("/api/notes", params={"limit": 10}).json()
        assert [note["title"] for note in listing["items"]] == ["Groceries"]
        assert client.delete(location).status_code == 204
        assert client.get(location).status_code == 404
        assert client.get("/health/ready").json() == {"status": "ok", "database": "ok"}
        assert "Notes" in client.get("/").text


@both_servers
def test_websocket_client_receives_a_note_created_over_http(server: str) -> None:
    socket_url = server.replace("http://", "ws://") + "/ws/notes"
    with connect(socket_url, open_timeout=5) as listener, connect(socket_url) as bystander:
        for websocket in (listener, bystander):
            websocket.send(json.dumps({"type": "ping"}))
            assert json.loads(websocket.recv(timeout=5)) == {"type": "pong"}

        note = httpx.post(f"{server}/api/notes", json={"title": "Pushed"}, timeout=5).json()

        for websocket in (listener, bystander):
            assert json.loads(websocket.recv(timeout=5)) == {"type": "note.created", "note": note}
        bystander.send("not json")
        with pytest.raises(ConnectionClosedError) as closed:
            bystander.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        listener.send(json.dumps({"type": "ping"}))
        assert json.loads(listener.recv(timeout=5)) == {"type": "pong"}


@pytest.mark.parametrize("server", ["granian"], indirect=True)
def test_default_server_speaks_http2_over_cleartext(server: str) -> None:
    # Prior knowledge (h2c), as a proxy or a service mesh in front of the app would use it.
    with httpx.Client(base_url=server, http1=False, http2=True, timeout=5) as client:
        response = client.get("/health/live")
        created = client.post("/api/notes", json={"title": "over h2"})

    assert response.http_version == "HTTP/2"
    assert response.json() == {"status": "ok"}
    assert created.status_code == 201 and created.http_version == "HTTP/2"


def test_start_refuses_an_unknown_server(default_project: Path) -> None:
    with pytest.raises(CommandFailed, match="SERVER must be granian or uvicorn, not 'nginx'"):
        run(["scripts/start"], cwd=default_project, env={**os.environ, "SERVER": "nginx"})
