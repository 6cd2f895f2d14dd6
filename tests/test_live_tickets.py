"""WebSocket tickets against the real servers: offered as a subprotocol, they open one socket,
and neither server writes a ticket or a token to its output, access log on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from .conftest import serve, stop
from .harness import build_venv, render, run, venv_env

PASSWORD = "a long enough passphrase"  # noqa: S105 - the test user's password
EMAIL = "live@example.com"


@pytest.fixture(scope="module")
def users_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A users project on SQLite, migrated, with one account; shared by both servers' tests."""
    project = render(tmp_path_factory.mktemp("tickets"), auth="users")
    env = venv_env(build_venv([project]))
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
    run(["scripts/manage", "createuser", EMAIL], cwd=project, env={**env, "PASSWORD": PASSWORD})
    yield project, env


def token_of(client: httpx.Client) -> str:
    form = client.get("/sign-in").text
    csrf = form.partition('name="csrf_token" value="')[2].partition('"')[0]
    fields = {"email": EMAIL, "password": PASSWORD, "csrf_token": csrf}
    home = client.post("/sign-in", data=fields, follow_redirects=True)
    assert home.status_code == 200, home.text
    csrf = home.text.partition('name="csrf_token" value="')[2].partition('"')[0]
    made = client.post("/api/tokens", json={"name": "live"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    return token


@pytest.mark.parametrize("name", ["granian", "uvicorn"])
def test_a_ticket_opens_one_socket_and_no_server_logs_it(
    users_project: tuple[Path, dict[str, str]], name: str
) -> None:
    project, env = users_project
    served = serve(project, env, name, ACCESS_LOG="true", SHUTDOWN_DRAIN_SECONDS="0")
    try:
        with httpx.Client(base_url=served.url, timeout=10) as client:
            token = token_of(client)
            bearer = {"Authorization": f"Bearer {token}"}
            ticket = client.post("/api/socket-tokens", headers=bearer).json()["token"]
        url = served.url.replace("http://", "ws://") + "/ws/notes"
        offer = [Subprotocol("ticket"), Subprotocol(ticket)]

        with connect(url, subprotocols=offer, open_timeout=5) as socket:
            assert socket.subprotocol == "ticket"
            socket.send(json.dumps({"type": "ping"}))
            assert json.loads(socket.recv(timeout=5)) == {"type": "pong"}
        with pytest.raises(InvalidStatus) as again:  # used once already
            connect(url, subprotocols=offer, open_timeout=5)
        assert again.value.response.status_code == 403
    finally:
        output = stop(served.process)

    assert "GET /ws/notes" in output or "/api/socket-tokens" in output, output  # access log on
    assert ticket not in output and token not in output, output
    assert ticket.split(".")[0] not in output and token[4:20] not in output
