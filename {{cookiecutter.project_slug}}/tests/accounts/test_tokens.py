from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from {{ cookiecutter.package_name }}.accounts.settings import load_auth
from {{ cookiecutter.package_name }}.accounts.tables import spent_tickets
from {{ cookiecutter.package_name }}.accounts.tickets import SECONDS as TICKET_SECONDS
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.database import Database
from {{ cookiecutter.package_name }}.core.settings import Settings

from ..problems import assert_problem
from .forms import other_user, sign_out


def new_token(client: TestClient, app: Starlette, name: str = "script") -> dict[str, str]:
    response = client.post(app.url_path_for("tokens"), json={"name": name})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"  # no cache keeps the token
    created: dict[str, str] = response.json()
    return created


def test_a_token_is_shown_once_and_works_as_bearer(client: TestClient, app: Starlette) -> None:
    created = new_token(client, app)
    bearer = {"Authorization": f"Bearer {created['token']}"}
    note = client.post(app.url_path_for("notes"), json={"title": "Mine"}).json()
    sign_out(client)

    listed = client.get(app.url_path_for("tokens"), headers=bearer).json()["items"]
    # No CSRF token: a Bearer token is never sent by a browser on its own.
    written = client.post(app.url_path_for("notes"), json={"title": "By token"}, headers=bearer)

    assert created["token"].startswith("pat_") and len(created["token"]) > 40
    assert [token["name"] for token in listed] == ["script"]
    assert "token" not in listed[0]
    assert written.status_code == 201
    read = client.get(app.url_path_for("note", id=note["id"]), headers=bearer)
    assert read.json()["title"] == "Mine"


def test_a_token_records_when_it_was_last_used(client: TestClient, app: Starlette) -> None:
    created = new_token(client, app)
    bearer = {"Authorization": f"Bearer {created['token']}"}
    sign_out(client)

    listed = [client.get(app.url_path_for("tokens"), headers=bearer) for _ in "ab"]

    assert created["last_used_at"] is None
    first, second = (answer.json()["items"][0]["last_used_at"] for answer in listed)
    assert first is not None and first.endswith("Z")
    used = datetime.fromisoformat(first)
    assert abs(datetime.now(UTC) - used) < timedelta(minutes=5)
    assert second == first  # within the minute: not written again


@pytest.mark.parametrize("token", ["pat_unknown", "nonsense", ""])
def test_a_wrong_token_is_401(client: TestClient, app: Starlette, token: str) -> None:
    sign_out(client)

    response = client.get(app.url_path_for("notes"), headers={"Authorization": f"Bearer {token}"})

    assert_problem(response, 401)


def test_a_revoked_token_stops_working_and_closes_its_sockets(
    client: TestClient, app: Starlette
) -> None:
    created = new_token(client, app)
    bearer = {"Authorization": f"Bearer {created['token']}"}
    ticket = client.post(app.url_path_for("socket_tokens"), headers=bearer).json()["token"]
    path = app.url_path_for("notes_socket")
    with client.websocket_connect(path) as by_session:  # the same user's page stays open
        with client.websocket_connect(path, ["ticket", ticket]) as by_token:
            by_token.send_json({"type": "ping"})
            assert by_token.receive_json() == {"type": "pong"}

            revoked = client.delete(app.url_path_for("token", id=created["id"]))

            assert revoked.status_code == 204
            with pytest.raises(WebSocketDisconnect) as closed:
                by_token.receive_json()
            assert (closed.value.code, closed.value.reason) == (1008, "The token was revoked.")
        by_session.send_json({"type": "ping"})
        assert by_session.receive_json() == {"type": "pong"}
    assert_problem(client.get(app.url_path_for("notes"), headers=bearer), 401)
    assert_problem(client.delete(app.url_path_for("token", id=created["id"])), 404)


class LongAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - TICKET_SECONDS - 1


def test_a_socket_token_opens_the_socket_for_a_minute(client: TestClient, app: Starlette) -> None:
    fresh = client.post(app.url_path_for("socket_tokens")).json()
    key = load_auth().secret_key.get_secret_value()
    holder = URLSafeTimedSerializer(key, salt="socket").loads(fresh["token"])
    expired = URLSafeTimedSerializer(key, salt="socket", signer=LongAgo).dumps(holder)
    path = app.url_path_for("notes_socket")
    sign_out(client)

    with client.websocket_connect(path, ["ticket", fresh["token"]]) as socket:
        socket.send_json({"type": "ping"})
        assert socket.receive_json() == {"type": "pong"}
    assert fresh["expires_in"] == TICKET_SECONDS
    for ticket in (expired, fresh["token"] + "x"):
        with pytest.raises(WebSocketDisconnect):
            with client.websocket_connect(path, ["ticket", ticket]):
                pass


def test_the_openapi_document_names_the_security_schemes(
    client: TestClient, app: Starlette
) -> None:
    spec = client.get(app.url_path_for("openapi")).json()

    schemes = spec["components"]["securitySchemes"]
    assert schemes["token"] == {**schemes["token"], "type": "http", "scheme": "bearer"}
    assert schemes["session"]["in"] == "cookie"
    assert spec["security"] == [{"token": []}, {"session": []}]
    assert "401" in spec["paths"]["/api/notes"]["get"]["responses"]
    # The health checks are public: they claim no credential and answer no 401.
    ready = spec["paths"]["/health/ready"]["get"]
    assert ready["security"] == [] and "401" not in ready["responses"]


def test_a_ticket_opens_one_socket_and_ends_with_its_session(
    client: TestClient, app: Starlette
) -> None:
    path = app.url_path_for("notes_socket")
    used, unused = (client.post(app.url_path_for("socket_tokens")).json()["token"] for _ in "ab")
    with client.websocket_connect(path, ["ticket", used]) as socket:
        assert socket.accepted_subprotocol == "ticket"
    signed_out = client.post("/sign-out", data={"csrf_token": client.headers["X-CSRF-Token"]})
    assert signed_out.status_code == 200

    for ticket in (used, unused):
        with pytest.raises(WebSocketDisconnect):
            with client.websocket_connect(path, ["ticket", ticket]):
                pass


def test_a_ticket_opens_one_socket_whichever_process_it_reaches(
    client: TestClient, app: Starlette, settings: Settings
) -> None:
    """Two processes share the database, not their memory: a ticket spent by one is spent."""
    path = app.url_path_for("notes_socket")
    tickets = [client.post(app.url_path_for("socket_tokens")).json()["token"] for _ in "ab"]
    with client.websocket_connect(path, ["ticket", tickets[0]]) as socket:
        assert socket.accepted_subprotocol == "ticket"

    with TestClient(create_app(settings)) as other_process:
        with pytest.raises(WebSocketDisconnect):
            with other_process.websocket_connect(path, ["ticket", tickets[0]]):
                pass
        with other_process.websocket_connect(path, ["ticket", tickets[1]]) as socket:
            assert socket.accepted_subprotocol == "ticket"
    with pytest.raises(WebSocketDisconnect):  # and back: spent there, spent here
        with client.websocket_connect(path, ["ticket", tickets[1]]):
            pass


def test_spent_tickets_are_forgotten_once_expired(
    client: TestClient, app: Starlette, database_url: str
) -> None:
    async def nonces(expire: bool = False) -> set[str]:
        """The nonces stored; with `expire`, first make the stored ones long expired."""
        database = Database(database_url)
        await database.connect()
        try:
            if expire:
                long_ago = datetime(2000, 1, 1, tzinfo=UTC)
                await database.execute(spent_tickets.update().values(expires_at=long_ago))
            return {row["nonce"] for row in await database.fetch_all(spent_tickets.select())}
        finally:
            await database.disconnect()

    def open_one() -> None:
        ticket = client.post(app.url_path_for("socket_tokens")).json()["token"]
        with client.websocket_connect(app.url_path_for("notes_socket"), ["ticket", ticket]):
            pass

    open_one()
    (first,) = asyncio.run(nonces())
    assert asyncio.run(nonces(expire=True)) == {first}
    open_one()

    remaining = asyncio.run(nonces())
    assert first not in remaining and len(remaining) == 1


def test_another_user_reusing_a_key_writes_their_own_note(
    client: TestClient, app: Starlette
) -> None:
    bob = other_user(client)
    url, key = app.url_path_for("notes"), {"Idempotency-Key": "shared-key"}

    alice = client.post(url, json={"title": "Alice's"}, headers=key)
    bobs = client.post(url, json={"title": "Alice's"}, headers={**key, **bob})

    assert alice.status_code == bobs.status_code == 201
    assert "idempotent-replayed" not in bobs.headers
    assert bobs.json()["id"] != alice.json()["id"]
    assert client.get(url, headers=bob).json()["items"][0]["id"] == bobs.json()["id"]
