"""A new user's first steps, as the rendered README gives them, run literally."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import free_port, require_python, require_server, stop, wait_until_up
from .harness import (
    COMBINATIONS,
    SERVERS,
    broadcast_url,
    manage_database,
    render,
    run,
    venv_env,
)

def first_steps(project: Path) -> str:
    """The shell block under the README's first heading, as a user would paste it."""
    readme = (project / "README.md").read_text()
    section = readme.split("## From zero to a running server", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "no sh block in the first steps"
    return block.group(1)


def user_env(**overrides: str) -> dict[str, str]:
    """A shell without the template's virtual environment, as a user's would be."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.pop("VIRTUAL_ENV", None)
    return {**env, **overrides}


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_readme_first_steps_serve_the_app(tmp_path: Path, combination: str) -> None:
    context = COMBINATIONS[combination]
    project = render(tmp_path, **context)
    port = free_port()
    env = user_env(PORT=str(port))
    server = SERVERS.get(context["database"])
    if server is not None:
        require_server(server)
        # A database nobody has created yet, as on a fresh server.
        env["DATABASE_URL"] = server.url.format(database=f"tpl_{secrets.token_hex(4)}")
        # .env's broker URL names the database .env names; the test's database is its own.
        env["BROADCAST_URL"] = broadcast_url(context, env["DATABASE_URL"])
        if context.get("jobs") == "postgres":  # the queue is in the same database
            env["JOBS_URL"] = env["DATABASE_URL"].replace("+asyncpg", "")
    steps = first_steps(project)
    assert ("scripts/createdb" in steps) == (server is not None)
    accounts = context.get("auth") == "users"
    assert ("scripts/manage createuser" in steps) == accounts
    # No terminal here: createuser reads the first account's password from standard input.
    typed = tmp_path / "typed"
    typed.write_text("correct horse battery staple\n" if accounts else "")
    with typed.open() as stdin:
        shell = subprocess.Popen(
            ["sh", "-e", "-c", steps], cwd=project, env=env, text=True, stdin=stdin,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health/ready", shell, seconds=600)
    finally:
        output = stop(shell)
        if server is not None:
            own = {**venv_env(project / ".venv"), "DATABASE_URL": env["DATABASE_URL"]}
            manage_database(project, own, "drop")
    assert "Traceback" not in output, output
    assert ("Done: createuser you@example.com." in output) == accounts, output


def test_install_refuses_an_older_python_naming_the_fix(tmp_path: Path) -> None:
    project = render(tmp_path, python_version="3.13")

    result = subprocess.run(
        ["scripts/install"], cwd=project, env=user_env(PYTHON=sys.executable),
        capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 1
    found = ".".join(map(str, sys.version_info[:3]))
    assert result.stderr == (
        f"This project needs Python 3.13 or newer and '{sys.executable}' is {found}; "
        "name another interpreter, e.g. PYTHON=python3.13 scripts/install\n"
    )
    assert not (project / ".venv").exists()


def test_install_rebuilds_a_venv_made_by_another_python(tmp_path: Path) -> None:
    project = render(tmp_path, python_version="3.12")
    wanted = require_python("3.12")
    subprocess.run([sys.executable, "-m", "venv", str(project / ".venv")], check=True)

    result = run(["scripts/install"], cwd=project, env=user_env(PYTHON=wanted), timeout=600)

    assert "Rebuilding .venv" in result.stdout
    version = run([".venv/bin/python", "-c", "import sys; print(sys.version_info[:2])"], cwd=project)
    assert version.stdout.strip() == "(3, 12)"
    assert (project / ".venv" / "bin" / "granian").is_file()
