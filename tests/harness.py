"""Rendering the template, and the virtual environments its rendered projects run in.

Used by the template tests and by the benchmarks.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).parents[1]
CACHE = ROOT / ".cache"

# Every option combination the template supports, by a short name used in test ids.
COMBINATIONS: dict[str, dict[str, str]] = {
    "sqlite": {"database": "sqlite"},
    "postgresql": {"database": "postgresql"},
    # The Lambda entry point here too, so its test also runs on a second backend; events
    # through Redis; traces; and jobs on a Redis queue.
    "mysql": {
        "database": "mysql", "lambda": "yes", "broadcast": "redis", "tracing": "opentelemetry",
        "jobs": "redis",
    },
    # User accounts on each database: PostgreSQL's with every deployment option; SQLite's
    # with error reports.
    "users-sqlite": {"database": "sqlite", "auth": "users", "error_reporting": "sentry"},
    "users-mysql": {"database": "mysql", "auth": "users"},
    # Every deployment option on, and every one off.
    "deploy-all": {
        "database": "postgresql", "broadcast": "postgres", "process_manager": "systemd",
        "kubernetes": "yes", "lambda": "yes", "paas": "yes", "ci": "github", "auth": "users",
        "jobs": "postgres",
    },
    "deploy-none": {
        "database": "sqlite", "process_manager": "none", "kubernetes": "no",
        "lambda": "no", "paas": "no", "ci": "none",
    },
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
# And the brokers of the broadcast options that need a server of their own.
BROKERS = {"redis": Server("Redis", 6379, "redis://127.0.0.1:6379/0")}


def servers_for(context: Mapping[str, str]) -> list[Server]:
    """The servers a combination needs: its database's, its broker's and its job queue's."""
    database, broadcast = context.get("database", "sqlite"), context.get("broadcast", "memory")
    jobs = context.get("jobs", "none")
    return [
        *([SERVERS[database]] if database in SERVERS else []),
        *([BROKERS["redis"]] if "redis" in (broadcast, jobs) else []),
    ]


def broadcast_url(context: Mapping[str, str], database_url: str) -> str:
    """BROADCAST_URL for a combination whose DATABASE_URL is `database_url`."""
    broadcast = context.get("broadcast", "memory")
    if broadcast == "postgres":  # the app's own database, without SQLAlchemy's driver name
        return database_url.replace("+asyncpg", "")
    return BROKERS[broadcast].url if broadcast in BROKERS else "memory://"


# Where this machine keeps the other Python versions the template offers.
PYENV = Path("/root/.pyenv/versions")


def interpreter(version: str) -> str | None:
    """A Python of that minor version: pyenv's, else one on PATH that runs; None if none."""
    for candidate in [*PYENV.glob(f"{version}.*/bin/python"), shutil.which(f"python{version}")]:
        if candidate is None:
            continue
        probe = subprocess.run(
            [str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, check=False,
        )
        if probe.stdout.strip() == version:
            return str(candidate)
    return None


def render(output_dir: Path, **context: str) -> Path:
    """Render the template with `context` over the defaults; return the project folder."""
    project = cookiecutter(
        str(ROOT), no_input=True, extra_context=context, output_dir=str(output_dir)
    )
    return Path(project)


def run(
    command: list[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a command and fail the test with its output when it exits non-zero."""
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise CommandFailed(
            f"{' '.join(command)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


class CommandFailed(Exception):
    """A command exited non-zero; the message holds its output."""


def build_venv(
    projects: Iterable[Path], python: str = sys.executable, extra: Iterable[str] = ()
) -> Path:
    """A virtual environment with exactly what the given projects' own uv.lock files pin (the
    app's dependencies and its dev group, as `scripts/install` makes it), and `extra`.

    `uv sync --locked` installs each lock in turn, and fails if one is not current for its
    pyproject.toml; the project itself is not installed, so one environment serves any render
    of the same lock (its tests import the package from the project folder). The locks are
    all cut from the template's one, so several agree on every version they share. Built
    once: it lives under .cache/, named by a hash of its interpreter, locks and `extra`, and is
    reused while they stay the same. Concurrent callers wait for the one building it.
    """
    projects = list(projects)
    locks = [(project / "uv.lock").read_text() for project in projects]
    wanted = sorted(extra)
    key = "\n".join([python, *locks, *wanted])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    venv = CACHE / f"project-venv-{digest}"
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / "project-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "synced").is_file():
            shutil.rmtree(venv, ignore_errors=True)
            env = {
                **os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_PROJECT_ENVIRONMENT": str(venv),
            }
            env.pop("VIRTUAL_ENV", None)
            uv = [sys.executable, "-m", "uv"]
            for number, project in enumerate(projects):
                # Each further lock adds to the environment rather than replacing it.
                sync = [*uv, "sync", "--locked", "--no-install-project", "--python", python]
                run([*sync, *(["--inexact"] if number else [])], cwd=project, env=env, timeout=900)
            if wanted:
                install = [*uv, "pip", "install", "--python", str(venv / "bin" / "python")]
                run([*install, *wanted], cwd=ROOT, env=env, timeout=900)
            (venv / "synced").write_text(key)
    return venv


def venv_env(venv: Path) -> dict[str, str]:
    """The environment a rendered project's scripts run in: `venv` first on PATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def manage_database(project: Path, env: Mapping[str, str], action: str) -> None:
    """Create or drop the database at the project's DATABASE_URL, with the project's own code."""
    code = (
        f"import asyncio, os; from tests.databases import {action}_database as act; "
        "asyncio.run(act(os.environ['DATABASE_URL']))"
    )
    run(["python", "-c", code], cwd=project, env=env)


def memory(root: int, field_name: str) -> int:
    """VmRSS (now) or VmHWM (peak) in KiB, summed over a process and all its descendants.

    scripts/start runs the server as its child, in a session of its own, and Granian runs the
    app in a worker process under a supervisor: all of them count.
    """
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError):  # the process ended meanwhile
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        pending.extend(children.get(pid, ()))
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        found = re.search(rf"{field_name}:\s+(\d+)", status)
        total += int(found.group(1)) if found else 0
    return total
