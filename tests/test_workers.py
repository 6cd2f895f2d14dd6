"""A worker process that dies is replaced, and the server keeps answering meanwhile.

scripts/start runs each server (uvicorn, its default, and Granian) with two workers (a project
with the Redis broker, which allows more than one) under load; one worker gets SIGKILL, as from
the kernel's out-of-memory killer.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from .conftest import BANNERS, DEFAULT_SERVER, require_server, serve, stop
from .harness import BROKERS, build_venv, render, run, venv_env

CLIENTS = 4


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError):  # the process ended meanwhile
            continue
        if parent == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def workers(start: int) -> list[int]:
    """scripts/start execs serve.py, whose child is the server's supervisor: its children, but
    for the resource tracker that Python's multiprocessing starts beside uvicorn's workers."""
    return [
        worker for supervisor in children(start) for worker in children(supervisor)
        if b"multiprocessing.resource_tracker" not in command_line(worker)
    ]


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # it ended meanwhile
        return b""


@pytest.fixture
def redis_project(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    require_server(BROKERS["redis"])
    project = render(tmp_path, database="sqlite", broadcast="redis")
    env = {
        **venv_env(build_venv([project])), "BROADCAST_URL": BROKERS["redis"].url,
        "BROADCAST_CHANNEL": f"workers-{secrets.token_hex(4)}",
    }
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
    yield project, env


# None: scripts/start without SERVER, which is uvicorn.
@pytest.mark.parametrize("server", [None, "granian"], ids=["default", "granian"])
def test_a_killed_worker_is_replaced_while_the_other_serves(
    redis_project: tuple[Path, dict[str, str]], server: str | None
) -> None:
    project, env = redis_project
    served = serve(project, env, server, workers=2, SHUTDOWN_DRAIN_SECONDS="0")
    results: dict[str, int] = {"ok": 0, "failed": 0}
    failures: list[tuple[float, str]] = []  # when (since the kill) and what
    killed_at = float("inf")
    done = threading.Event()

    def failed(what: str) -> None:
        results["failed"] += 1
        failures.append((round(time.monotonic() - killed_at, 2), what))

    def client() -> None:
        with httpx.Client(base_url=served.url, timeout=5) as http:
            while not done.is_set():
                try:
                    answer = http.get("/api/notes")
                except httpx.TransportError as exc:
                    failed(repr(exc))
                    continue
                if answer.status_code == 200:
                    results["ok"] += 1
                else:
                    failed(f"{answer.status_code} {answer.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    try:
        deadline = time.monotonic() + 20
        while len(before := workers(served.process.pid)) < 2:
            assert time.monotonic() < deadline, "the server did not start two workers"
            time.sleep(0.2)
        for thread in threads:
            thread.start()
        time.sleep(1)
        answered_before = results["ok"]
        os.kill(before[0], signal.SIGKILL)
        killed_at = time.monotonic()
        while len(after := workers(served.process.pid)) < 2 or before[0] in after:
            assert served.process.poll() is None, "the server stopped when one worker died"
            assert time.monotonic() - killed_at < 20, "the killed worker was not replaced"
            time.sleep(0.2)
        respawned = time.monotonic() - killed_at
        # The window is at least a second: a supervisor may fork the replacement within one
        # poll, before a client whose connection was cut has reconnected to the worker left.
        time.sleep(max(0.0, 1 - respawned))
        answered_meanwhile = results["ok"] - answered_before
        time.sleep(1)  # the new worker serves too
    finally:
        done.set()
        for thread in threads:
            thread.join(10)
        output = stop(served.process)

    assert served.process.returncode in {0, 143}, output  # the supervisor stayed up until stopped
    assert answered_before > 0 and answered_meanwhile > 0, (answered_before, answered_meanwhile)
    # Only the requests on the killed worker's connections may fail, as it dies: one a client,
    # or two when a reconnect was queued to its listener in the moment before the kernel closed
    # it (seen on a loaded machine with Granian). None fail once the kill is over.
    assert results["failed"] <= 2 * CLIENTS, (results, failures, output)
    assert all(0 <= after_kill < 1 for after_kill, _ in failures), (failures, output)
    assert set(after) != set(before) and before[1] in after
    assert BANNERS[server or DEFAULT_SERVER] in output, output
    print(f"respawned in {respawned:.1f}s; {results}; {failures}")
