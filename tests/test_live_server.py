"""The rendered project served for real by its start script, driven by real clients."""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from .conftest import Servers, serving, stop
from .harness import CommandFailed, memory, run

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
        assert client.get("/health/ready").json() == {
            "status": "ok", "database": "ok", "broker": "memory", "jobs": "memory"
        }
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
            event = json.loads(websocket.recv(timeout=5))
            assert event["type"] == "note.created" and event["note"] == note
        bystander.send("not json")
        with pytest.raises(ConnectionClosedError) as closed:
            bystander.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        listener.send(json.dumps({"type": "ping"}))
        assert json.loads(listener.recv(timeout=5)) == {"type": "pong"}


@pytest.mark.parametrize("server", ["granian"], indirect=True)
def test_granian_speaks_http2_over_cleartext(server: str) -> None:
    # Prior knowledge (h2c), as a proxy or a service mesh in front of the app would use it.
    with httpx.Client(base_url=server, http1=False, http2=True, timeout=5) as client:
        response = client.get("/health/live")
        created = client.post("/api/notes", json={"title": "over h2"})

    assert response.http_version == "HTTP/2"
    assert response.json() == {"status": "ok"}
    assert created.status_code == 201 and created.http_version == "HTTP/2"


def test_start_refuses_an_unknown_server(default_project: Path) -> None:
    with pytest.raises(CommandFailed, match="SERVER must be uvicorn or granian, not 'nginx'"):
        run(["scripts/start"], cwd=default_project, env={**os.environ, "SERVER": "nginx"})


@pytest.mark.parametrize("tls_server", ["granian"], indirect=True)
def test_https_negotiates_http2_through_alpn(tls_server: str, client_tls: ssl.SSLContext) -> None:
    with httpx.Client(base_url=tls_server, http2=True, verify=client_tls, timeout=5) as client:
        response = client.get("/health/live")
    # The same port still serves a client that offers HTTP/1.1 only.
    with httpx.Client(base_url=tls_server, verify=client_tls, timeout=5) as client:
        older = client.get("/health/live")

    assert response.http_version == "HTTP/2"
    assert response.json() == {"status": "ok"}
    assert older.http_version == "HTTP/1.1" and older.json() == {"status": "ok"}


@pytest.mark.parametrize("tls_server", ["granian", "uvicorn"], indirect=True)
def test_websocket_over_tls_on_the_same_port(tls_server: str, client_tls: ssl.SSLContext) -> None:
    socket_url = tls_server.replace("https://", "wss://") + "/ws/notes"
    with connect(socket_url, ssl=client_tls, open_timeout=5) as websocket:
        websocket.send(json.dumps({"type": "ping"}))
        assert json.loads(websocket.recv(timeout=5)) == {"type": "pong"}

        note = httpx.post(
            f"{tls_server}/api/notes", json={"title": "Over TLS"}, verify=client_tls, timeout=5
        ).json()

        event = json.loads(websocket.recv(timeout=5))
        assert event["type"] == "note.created" and event["note"] == note


@pytest.mark.parametrize("missing", ["TLS_CERTFILE", "TLS_KEYFILE"])
def test_start_refuses_half_a_tls_setting(default_project: Path, missing: str) -> None:
    env = {**os.environ, "TLS_CERTFILE": "cert.pem", "TLS_KEYFILE": "key.pem"}
    del env[missing]

    with pytest.raises(CommandFailed, match="TLS_CERTFILE and TLS_KEYFILE go together"):
        run(["scripts/start"], cwd=default_project, env=env)


BODY = 100 * 2**20  # each oversized body, in bytes


def post_oversized(url: str, chunked: bool) -> int:
    """POST 100 MB of whitespace-padded JSON over a raw socket; return the status answered.

    Sends until the server answers or stops reading, as a client that watches the socket does.
    """
    host, port = url.removeprefix("http://").split(":")
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY}"
    head = (
        f"POST /api/notes HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"{framing}\r\nConnection: close\r\n\r\n"
    )
    piece = b" " * 65536
    if chunked:
        piece = b"%x\r\n%s\r\n" % (len(piece), piece)
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head.encode() + (b"1\r\n{\r\n" if chunked else b"{"))
        try:
            for _ in range(BODY // 65536):
                if select.select([connection], [], [], 0)[0]:
                    break  # the answer has come
                connection.sendall(piece)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server closed the connection on its answer
        answer = connection.recv(4096).decode(errors="replace")
    return int(answer.split(" ", 2)[1])


def test_oversized_bodies_leave_memory_bounded(
    default_project: Path, project_env: dict[str, str]
) -> None:
    run(["scripts/migrate", "upgrade", "head"], cwd=default_project, env=project_env)
    with serving(default_project, project_env) as served:
        with httpx.Client(base_url=served.url, timeout=5) as client:
            for n in range(50):  # warm up: the usual requests, bodies near the limit included
                note = {"title": f"n{n}", "body": "x" * 9000}
                assert client.post("/api/notes", json=note).status_code == 201
                assert client.get("/api/notes").status_code == 200
        baseline = memory(served.process.pid, "VmHWM")

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(lambda n: post_oversized(served.url, n % 2 == 0), range(16)))
        peak = memory(served.process.pid, "VmHWM")

    print(f"server peak RSS: {baseline // 1024} MiB warm, {peak // 1024} MiB after the bodies")
    assert statuses == [413] * 16
    assert peak <= baseline * 1.25, (baseline, peak)


EVENT_BODY = "x" * 9000  # an event of about 9 KB
OPCODE_TEXT, OPCODE_CLOSE = 1, 8


def stalled_socket(url: str) -> tuple[socket.socket, bytes]:
    """A WebSocket client that completes the handshake, then never reads; and what it got so far."""
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = url.removeprefix("http://").split(":")
    stalled.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    stalled.sendall(
        f"GET /ws/notes HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .encode()
    )
    received = b""
    while b"\r\n\r\n" not in received:
        received += stalled.recv(4096)
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return stalled, rest


def drain(stalled: socket.socket, received: bytes) -> list[tuple[int, bytes]]:
    """Read until the server ends the connection; return its frames as (opcode, payload)."""
    stalled.settimeout(30)
    with stalled:
        while chunk := stalled.recv(1 << 20):
            received += chunk
    frames = []
    while received:
        opcode, length, start = received[0] & 0x0F, received[1] & 0x7F, 2
        if length >= 126:
            start = 4 if length == 126 else 10
            length = int.from_bytes(received[2:start])
        frames.append((opcode, received[start : start + length]))
        received = received[start + length :]
    return frames


@pytest.mark.parametrize("name", ["granian", "uvicorn"])
def test_client_that_stops_reading_is_dropped_and_memory_stays_flat(
    servers: Servers, name: str
) -> None:
    served = servers.start(name, WEBSOCKET_SEND_TIMEOUT="1")
    with httpx.Client(base_url=served.url, timeout=10) as client:
        for _ in range(200):  # warm-up: allocator, caches, database pages
            client.post("/api/notes", json={"title": "warm-up", "body": EVENT_BODY})
        before = memory(served.process.pid, "VmRSS")
        stalled, received = stalled_socket(served.url)
        for number in range(2000):
            client.post("/api/notes", json={"title": f"note {number}", "body": EVENT_BODY})
        grown = memory(served.process.pid, "VmRSS") - before

    # Kept for the client, the events would take about 17 MiB. What grows besides (5-7 MiB over
    # 2,000 writes here: SQLite's page caches over 18 MiB of new rows, the allocator) is not
    # theirs; half of them would be.
    published = 2000 * len(EVENT_BODY) // 1024
    assert grown < published / 2, f"RSS grew {grown} KiB while {published} KiB was published"
    # The server hung up long ago; past the socket buffers, not even a close frame fits.
    frames = drain(stalled, received)
    assert 0 < len(frames) < 2000 / 4
    assert {opcode for opcode, _ in frames} <= {OPCODE_TEXT, OPCODE_CLOSE}


@pytest.mark.parametrize("name", ["granian", "uvicorn"])
def test_client_that_falls_behind_is_closed_with_1013(servers: Servers, name: str) -> None:
    served = servers.start(name, WEBSOCKET_SEND_TIMEOUT="10")
    stalled, received = stalled_socket(served.url)
    with httpx.Client(base_url=served.url, timeout=10) as client:
        for number in range(600):  # more than the socket buffers and the queue hold
            client.post("/api/notes", json={"title": f"note {number}", "body": EVENT_BODY})

    # Reading again within WEBSOCKET_SEND_TIMEOUT, the client gets the close frame, and no more.
    frames = drain(stalled, received)
    assert len(frames) < 600
    assert {opcode for opcode, _ in frames[:-1]} == {OPCODE_TEXT}
    opcode, payload = frames[-1]
    assert opcode == OPCODE_CLOSE and int.from_bytes(payload[:2]) == 1013, frames[-1]
    assert b"behind" in payload


@both_servers
def test_pages_from_other_sites_cannot_open_the_socket(server: str) -> None:
    socket_url = server.replace("http://", "ws://") + "/ws/notes"
    for origin in ("http://evil.example", "null"):
        with pytest.raises(InvalidStatus) as refused:
            connect(socket_url, origin=Origin(origin), open_timeout=5)
        assert refused.value.response.status_code == 403
    # The app's own page, on any port, and clients that are not browsers (no Origin) may.
    for own in (Origin(server), Origin("https://localhost:8443"), None):
        with connect(socket_url, origin=own, open_timeout=5) as websocket:
            websocket.send(json.dumps({"type": "ping"}))
            assert json.loads(websocket.recv(timeout=5)) == {"type": "pong"}


# Who refuses it: uvicorn itself (--ws-max-size from .env), the app on Granian.
@pytest.mark.parametrize(("name", "refused_by"), [("granian", "app"), ("uvicorn", "server")])
def test_big_message_closes_only_that_socket_with_1009(
    servers: Servers, name: str, refused_by: str
) -> None:
    served = servers.start(name)
    socket_url = served.url.replace("http://", "ws://") + "/ws/notes"
    with connect(socket_url, open_timeout=5) as bystander, connect(socket_url) as sender:
        try:
            sender.send("x" * (1 << 20))
        except ConnectionClosedError:
            pass  # the server may refuse it while it is still being sent
        with pytest.raises(ConnectionClosedError) as closed:
            sender.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        by_app = closed.value.rcvd.reason == "Messages are limited to 4096 bytes."
        assert by_app == (refused_by == "app"), closed.value.rcvd

        bystander.send(json.dumps({"type": "ping"}))
        assert json.loads(bystander.recv(timeout=5)) == {"type": "pong"}
    assert httpx.get(f"{served.url}/health/live", timeout=5).status_code == 200


# Granian starts its own shutdown as soon as the signal arrives: the goodbye races with it.
@pytest.mark.parametrize("name", ["uvicorn"])
def test_stopping_the_server_closes_sockets_with_1001(servers: Servers, name: str) -> None:
    served = servers.start(name)
    socket_url = served.url.replace("http://", "ws://") + "/ws/notes"
    with connect(socket_url, open_timeout=5) as first, connect(socket_url) as second:
        for websocket in (first, second):
            websocket.send(json.dumps({"type": "ping"}))
            assert json.loads(websocket.recv(timeout=5)) == {"type": "pong"}

        stop(served.process)  # SIGTERM, as a process manager sends it

        for websocket in (first, second):
            with pytest.raises(ConnectionClosed) as closed:
                websocket.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
