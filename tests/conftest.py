"""Fixtures over tests/harness.py: project environments, rendered combinations,
and the local database servers the server-backed combinations run against.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest

from .harness import COMBINATIONS, SERVERS, Server, build_venv, manage_database, render, run, venv_env

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_server(server: Server) -> None:
    """Skip when the server is not running, except in CI, where that is a failure."""
    try:
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    except OSError as exc:
        message = f"{server.name} is not reachable on 127.0.0.1:{server.port} ({exc})"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def project_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the default project: exactly what it declares, built once."""
    return venv_env(build_venv([render(tmp_path_factory.mktemp("default"))]))


@pytest.fixture
def default_project(tmp_path: Path) -> Iterator[Path]:
    yield render(tmp_path)


@dataclass(frozen=True)
class Project:
    path: Path
    env: dict[str, str]  # what its scripts run with: the shared venv, its own DATABASE_URL


@pytest.fixture(params=sorted(COMBINATIONS))
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    """A rendered combination; on a server backend, with a database of its own on that server."""
    context = COMBINATIONS[request.param]
    path = render(tmp_path, **context)
    # Each combination runs in an environment of only what it declares, so a test that
    # leans on another combination's driver fails here as it would for a user.
    env = venv_env(build_venv([path]))
    server = SERVERS.get(context["database"])
    if server is None:
        yield Project(path, env)
        return
    require_server(server)
    database = f"tpl_{secrets.token_hex(4)}"
    project = Project(path, {**env, "DATABASE_URL": server.url.format(database=database)})
    manage_database(project.path, project.env, "create")
    try:
        yield project
    finally:
        manage_database(project.path, project.env, "drop")


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


# What each production server prints when it starts, to tell which one scripts/start ran.
BANNERS = {"granian": "Starting granian", "uvicorn": "Uvicorn running on"}


@pytest.fixture
def server(
    request: pytest.FixtureRequest, tmp_path: Path, project_env: dict[str, str]
) -> Iterator[str]:
    """The default project served by scripts/start; parametrize indirectly to pick the server."""
    name = getattr(request, "param", "granian")
    project = render(tmp_path)
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=project_env)
    port = free_port()
    env = {**project_env, "HOST": "127.0.0.1", "PORT": str(port), "SERVER": name}
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
    assert BANNERS[name] in output, output
