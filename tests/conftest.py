"""Fixtures over tests/harness.py: project environments, rendered combinations,
and the local database servers the server-backed combinations run against.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import httpx2 as httpx
import pytest
import trustme

from .harness import (
    COMBINATIONS, SERVERS, Server, broadcast_url, build_venv, interpreter, manage_database, render,
    run, servers_for, venv_env,
)

IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(message: str) -> NoReturn:
    """Skip for a missing server or tool, except in CI, where that is a failure."""
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_server(server: Server) -> None:
    try:
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    except OSError as exc:
        unavailable(f"{server.name} is not reachable on 127.0.0.1:{server.port} ({exc})")


def require_python(version: str) -> str:
    """The path of a Python of that version; skip without one, except in CI."""
    found = interpreter(version)
    if found is None:
        message = f"no Python {version} on this machine (pyenv or python{version} on PATH)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


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
    with own_servers(path, env, context) as project:
        yield project


@contextmanager
def own_servers(path: Path, env: dict[str, str], context: Mapping[str, str]) -> Iterator[Project]:
    """The rendered `path` with the servers its `context` needs (skipped without them); on a
    server backend, with a database of its own on that server, dropped afterwards."""
    for needed in servers_for(context):
        require_server(needed)
    server = SERVERS.get(context.get("database", "sqlite"))
    if server is None:
        yield Project(path, env)
        return
    database_url = server.url.format(database=f"tpl_{secrets.token_hex(4)}")
    project = Project(path, {
        **env, "DATABASE_URL": database_url, "BROADCAST_URL": broadcast_url(context, database_url),
    })
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


def wait_until_up(
    url: str, server: subprocess.Popen[str], seconds: float = 30, verify: ssl.SSLContext | bool = True
) -> None:
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"server exited with {server.returncode}: {server.communicate()[0]}")
        try:
            answer = httpx.get(url, timeout=1, verify=verify)
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text[:200]}"
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer 200 within {seconds}s; last: {last}")


def stop(process: subprocess.Popen[str]) -> str:
    """Stop a server started in its own session, with everything it spawned; return its output."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # killed, so that nothing outlives the test
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"the server did not stop within 30 s of SIGTERM:\n{output}")
    return output


# What each production server prints when it starts, to tell which one scripts/start ran.
BANNERS = {"granian": "Starting granian", "uvicorn": "Uvicorn running on"}
# The server scripts/start runs without SERVER: the one that bounds WebSocket messages.
DEFAULT_SERVER = "uvicorn"


@dataclass(frozen=True)
class Served:
    process: subprocess.Popen[str]  # scripts/start; the server runs as its child
    port: int
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"


def serve(
    project: Path,
    env: Mapping[str, str],
    server: str | None = None,
    workers: int = 1,
    verify: ssl.SSLContext | None = None,
    port: int | None = None,
    **more: str,
) -> Served:
    """scripts/start in a migrated `project` (on a free port unless given), with `more`
    variables; once it is ready. Without `server`, SERVER is unset: scripts/start's default."""
    port = port or free_port()
    chosen = {} if server is None else {"SERVER": server}
    process = subprocess.Popen(
        ["scripts/start"], cwd=project, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={
            **{name: value for name, value in env.items() if name != "SERVER"}, **chosen,
            "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": str(workers),
            "METRICS_PORT": str(free_port()), **more,
        },
    )
    served = Served(process, port, "https" if verify else "http")
    try:
        wait_until_up(f"{served.url}/health/live", process, verify=verify or True, seconds=60)
    except BaseException:  # not left running, holding its port, after the test
        print(stop(process))
        raise
    return served


@contextmanager
def serving(
    project: Path,
    env: Mapping[str, str],
    name: str | None = None,
    verify: ssl.SSLContext | None = None,
    port: int | None = None,
) -> Iterator[Served]:
    """Serve a migrated project with scripts/start (`name`, or its default), then stop it and
    check what it printed: no traceback, and the banner of the server expected."""
    served = serve(project, env, name, verify=verify, port=port, SHUTDOWN_DRAIN_SECONDS="0")
    try:
        yield served
    finally:
        output = stop(served.process)
    assert "Traceback" not in output, output
    assert BANNERS[name or DEFAULT_SERVER] in output, output


@pytest.fixture
def server(
    request: pytest.FixtureRequest, tmp_path: Path, project_env: dict[str, str]
) -> Iterator[str]:
    """The default project served by scripts/start; parametrize indirectly to pick the server."""
    project = render(tmp_path)
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=project_env)
    with serving(project, project_env, getattr(request, "param", None)) as served:
        yield served.url


class Servers:
    """Serves one rendered, migrated project as often as a test asks; `stop` ends one early."""

    def __init__(self, project: Path, env: dict[str, str], stack: ExitStack) -> None:
        self.project, self.env, self.stack = project, env, stack

    def start(self, name: str | None = None, port: int | None = None, **settings: str) -> Served:
        """Start a server; `settings` are environment variables for the app."""
        env = {**self.env, **settings}
        return self.stack.enter_context(serving(self.project, env, name, port=port))


@pytest.fixture
def servers(tmp_path: Path, project_env: dict[str, str]) -> Iterator[Servers]:
    project = render(tmp_path)
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=project_env)
    with ExitStack() as stack:
        yield Servers(project, project_env, stack)


@pytest.fixture(scope="session")
def certificate_authority() -> trustme.CA:
    """A throwaway CA, trusted by the clients of `tls_server` and nothing else."""
    return trustme.CA()


@pytest.fixture
def client_tls(certificate_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    return context


@pytest.fixture
def tls_server(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    project_env: dict[str, str],
    certificate_authority: trustme.CA,
    client_tls: ssl.SSLContext,
) -> Iterator[str]:
    """Like `server`, over HTTPS with a certificate for 127.0.0.1 from `certificate_authority`."""
    issued = certificate_authority.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    for number, blob in enumerate(issued.cert_chain_pems):
        blob.write_to_path(str(certfile), append=number > 0)
    issued.private_key_pem.write_to_path(str(keyfile))
    env = {**project_env, "TLS_CERTFILE": str(certfile), "TLS_KEYFILE": str(keyfile)}
    project = render(tmp_path / "project")
    run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
    name = getattr(request, "param", None)
    with serving(project, env, name, verify=client_tls) as served:
        yield served.url
