"""What one client can cost a served project: small versions of benchmarks/abuse.py, with
bounds asserted, and bodies a server cannot read, sent over raw sockets."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.abuse import flood, served, slowloris

from .conftest import serving
from .harness import render, run
from .test_workers import children, command_line

MIB_BOUND = 64


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory, project_env: dict[str, str]) -> Path:
    project = render(tmp_path_factory.mktemp("abuse"))
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=project_env)
    return project


@pytest.fixture(params=["granian", "uvicorn"])
def server(
    request: pytest.FixtureRequest, migrated: Path, project_env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    with served(migrated, project_env, request.param) as process:
        yield process


# Not strict: how much of the buffered frames the allocator keeps depends on the machine's load
# (8 x 16 MiB stayed under the bound once on a machine busy with other work), so a pass says
# nothing; the limit itself is Granian's, as the reason says.
GRANIAN_BUFFERS = pytest.mark.xfail(
    strict=False,
    reason="Granian 2.8.7 (and 2.8.9) reads a whole WebSocket message (up to 64 MiB) before the app sees "
    "it and has no option to limit it (docs/configuration.md: Servers)",
)


@pytest.mark.parametrize(
    "server", [pytest.param("granian", marks=GRANIAN_BUFFERS), "uvicorn"], indirect=True
)
def test_large_websocket_frames_do_not_grow_the_server(server: subprocess.Popen[bytes]) -> None:
    flooded = flood(server, sockets=8, frame_mib=16)
    print(flooded)
    assert flooded.grown_mib <= MIB_BOUND, flooded


def test_the_default_server_is_the_one_that_bounds_messages(
    migrated: Path, project_env: dict[str, str]
) -> None:
    # scripts/start without SERVER: what a project runs unless told otherwise.
    with served(migrated, project_env) as process:
        (server,) = children(process.pid)
        program = command_line(server).split(b"\0")[1]
        flooded = flood(process, sockets=8, frame_mib=16)
    print(flooded)
    assert Path(program.decode()).name == "uvicorn", program
    assert flooded.grown_mib <= MIB_BOUND, flooded
    # Refused as each frame's header announced more than WEBSOCKET_MAX_SIZE: none sent whole.
    assert flooded.refused == flooded.sockets, flooded


def test_unfinished_request_heads_do_not_starve_other_clients(
    server: subprocess.Popen[bytes],
) -> None:
    # More heads than Granian's default limit of connections per worker (1024).
    slow = slowloris(server, heads=1200, probes=20, timeout=5, seconds=20)
    assert slow.held >= 1100, slow
    assert slow.failed == 0, slow
    assert slow.p99_ms < 2500, slow  # generous: a loaded CI machine shares these two cores


def answer_to(port: int, request: bytes, close_early: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        if close_early:
            connection.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return answer


@pytest.mark.parametrize("name", ["granian", "uvicorn"])
def test_unreadable_bodies_are_400s_without_a_traceback(
    migrated: Path, project_env: dict[str, str], name: str
) -> None:
    head = (
        b"POST /api/notes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\n"
    )
    # `serving` fails the test if the server printed a traceback.
    with serving(migrated, project_env, name) as served:
        bad_chunk = answer_to(
            served.port, head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
        )
        cut_short = answer_to(
            served.port, head + b"Content-Length: 1000\r\n\r\n" + b'{"title": "cut', True
        )
    # A bad chunked encoding: the server's own 400, or the app's when the server passes on
    # what it read; a body cut short: the app's 400, if the server still sends it.
    assert bad_chunk.startswith(b"HTTP/1.1 400"), bad_chunk
    assert cut_short == b"" or cut_short.startswith(b"HTTP/1.1 400"), cut_short


def test_a_request_head_left_unfinished_is_closed_within_seconds(
    server: subprocess.Popen[bytes],
) -> None:
    port: int = server.port  # type: ignore[attr-defined]
    with socket.create_connection(("127.0.0.1", port), timeout=15) as connection:
        connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        began = time.monotonic()
        try:
            while connection.recv(4096):  # a 408 first, perhaps; then the end
                pass
        except ConnectionResetError:
            pass
        closed_after = time.monotonic() - began
    assert closed_after < 10, closed_after  # the limit is 5 s; uvicorn's own is none at all
