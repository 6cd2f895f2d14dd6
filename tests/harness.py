"""Rendering the template, and the virtual environments its rendered projects run in.

Used by the template tests and by the benchmarks.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import tomllib
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
        raise CommandFailed(
            f"{' '.join(command)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


class CommandFailed(Exception):
    """A command exited non-zero; the message holds its output."""


def build_venv(projects: Iterable[Path], python: str = sys.executable) -> Path:
    """A virtual environment with every dependency the given projects declare, built once.

    It lives under .cache/, named by a hash of its interpreter and requirements, and is reused
    while they stay the same. Concurrent callers wait for the one building it.
    """
    wanted = sorted({requirement for project in projects for requirement in requirements(project)})
    listing = "\n".join(wanted) + "\n"
    digest = hashlib.sha256(f"{python}\n{listing}".encode()).hexdigest()[:12]
    venv = CACHE / f"project-venv-{digest}"
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / "project-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "requirements.txt").is_file():
            run([python, "-m", "venv", "--clear", str(venv)], cwd=ROOT)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
            run([*pip, "install", "--quiet", "--upgrade", "pip"], cwd=ROOT)
            (venv / "wanted.txt").write_text(listing)
            run([*pip, "install", "--quiet", "-r", str(venv / "wanted.txt")], cwd=ROOT, timeout=900)
            (venv / "requirements.txt").write_text(listing)
    return venv


def venv_env(venv: Path) -> dict[str, str]:
    """The environment a rendered project's scripts run in: `venv` first on PATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def manage_database(project: Path, env: Mapping[str, str], action: str) -> None:
    """Create or drop the database at the project's DATABASE_URL, with the project's own code."""
    package = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"]["wheel"]["packages"][0]
    code = (
        f"import asyncio, os; from {package}.database import {action}_database as act; "
        "asyncio.run(act(os.environ['DATABASE_URL']))"
    )
    run(["python", "-c", code], cwd=project, env=env)
