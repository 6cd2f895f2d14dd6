"""Shared helpers: render the template, and one virtual environment for every rendered project.

The environment holds the union of what the rendered projects declare (read from their own
pyproject.toml), so each project runs its own scripts without a per-project install.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

ROOT = Path(__file__).parents[1]
CACHE = ROOT / ".cache"
IN_CI = os.environ.get("CI", "").lower() == "true"

# Every option combination the template supports, by a short name used in test ids.
COMBINATIONS: dict[str, dict[str, str]] = {
    "sqlite": {"database": "sqlite"},
    "postgresql": {"database": "postgresql"},
    "mysql": {"database": "mysql"},
}


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    url: str  # with {database} for the database name


# The local servers the database options are tested against.
SERVERS = {
    "postgresql": Server("PostgreSQL", 5432, "postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"),
    "mysql": Server("MariaDB", 3306, "mysql+aiomysql://root@127.0.0.1:3306/{database}"),
}


def require_server(server: Server) -> None:
    """Skip when the server is not running, except in CI, where that is a failure."""
    try:
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    except OSError as exc:
        message = f"{server.name} is not reachable on 127.0.0.1:{server.port} ({exc})"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def render(output_dir: Path, **context: str) -> Path:
    """Render the template with `context` over the defaults; return the project folder."""
    project = cookiecutter(
        str(ROOT), no_input=True, extra_context=context, output_dir=str(output_dir)
    )
    return Path(project)


def requirements(project: Path) -> list[str]:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    return [*pyproject["project"]["dependencies"], *pyproject["dependency-groups"]["dev"]]


def run(
    command: list[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a command and fail the test with its output when it exits non-zero."""
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}",
            pytrace=False,
        )
    return result


@pytest.fixture(scope="session")
def project_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with every rendered combination's dependencies, built once."""
    wanted: set[str] = set()
    for name, context in COMBINATIONS.items():
        wanted.update(requirements(render(tmp_path_factory.mktemp(f"deps-{name}"), **context)))
    listing = "\n".join(sorted(wanted)) + "\n"
    venv = CACHE / f"project-venv-{hashlib.sha256(listing.encode()).hexdigest()[:12]}"
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / "project-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel workers wait for the one building it
        if not (venv / "requirements.txt").is_file():
            run([sys.executable, "-m", "venv", "--clear", str(venv)], cwd=ROOT)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
            run([*pip, "install", "--quiet", "--upgrade", "pip"], cwd=ROOT)
            (venv / "wanted.txt").write_text(listing)
            run([*pip, "install", "--quiet", "-r", str(venv / "wanted.txt")], cwd=ROOT, timeout=900)
            (venv / "requirements.txt").write_text(listing)
    return venv


@pytest.fixture(scope="session")
def project_env(project_venv: Path) -> dict[str, str]:
    """The environment a rendered project's scripts run in: the shared venv first on PATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{project_venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture
def default_project(tmp_path: Path) -> Iterator[Path]:
    yield render(tmp_path)


@dataclass(frozen=True)
class Project:
    path: Path
    env: dict[str, str]  # what its scripts run with: the shared venv, its own DATABASE_URL


def manage_database(project: Project, action: str) -> None:
    """Create or drop the project's DATABASE_URL database with the project's own code."""
    code = (
        "import asyncio, os; from my_service.database import {action}_database as act; "
        "asyncio.run(act(os.environ['DATABASE_URL']))"
    ).format(action=action)
    run(["python", "-c", code], cwd=project.path, env=project.env)


@pytest.fixture(params=sorted(COMBINATIONS))
def project(
    request: pytest.FixtureRequest, tmp_path: Path, project_env: dict[str, str]
) -> Iterator[Project]:
    """A rendered combination; on a server backend, with a database of its own on that server."""
    context = COMBINATIONS[request.param]
    path = render(tmp_path, **context)
    server = SERVERS.get(context["database"])
    if server is None:
        yield Project(path, project_env)
        return
    require_server(server)
    database = f"tpl_{secrets.token_hex(4)}"
    project = Project(path, {**project_env, "DATABASE_URL": server.url.format(database=database)})
    manage_database(project, "create")
    try:
        yield project
    finally:
        manage_database(project, "drop")
