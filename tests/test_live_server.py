"""The rendered project served for real by its start script, driven by real clients."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from .harness import render, run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_until_up(url: str, server: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"server exited with {server.returncode}: {server.communicate()[0]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {seconds}s")


def stop(process: subprocess.Popen[str]) -> str:
    """Stop a server started in its own session, with everything it spawned; return its output."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return output


@pytest.fixture
def server(tmp_path: Path, project_env: dict[str, str]) -> Iterator[str]:
    project = render(tmp_path)
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=project_env)
    port = free_port()
    env = {**project_env, "HOST": "127.0.0.1", "PORT": str(port)}
    process = subprocess.Popen(
        ["scripts/start"], cwd=project, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/health/live", process)
        yield base
    finally:
        output = stop(process)
    assert "Traceback" not in output, output


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
