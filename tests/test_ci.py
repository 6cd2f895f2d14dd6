"""The rendered CI workflow, for each database and broker: linted, then run as GitHub runs it.

Its `run:` steps run in order in a clean clone of the rendered project (committed with git,
then cloned, so that git-ignored files such as .env are absent), with the job's `env:` and
what the runner adds (`$GITHUB_ENV` carried to the later steps, bash with -e and pipefail).
The steps that use actions have local equivalents: actions/checkout is that `git clone`,
actions/setup-python is this machine's `python3` (the test checks it is the version the step
asks for). The job's services are this machine's servers on the same ports (the test checks
that each one the workflow declares is one of them, on its port); each run gets a database
name of its own in DATABASE_URL, next to which the suite makes its test database.
scripts/install downloads through uv's and pip's caches, so only the first run fetches much.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import require_server
from .harness import BROKERS, COMBINATIONS, SERVERS, Server, render, run, servers_for

TOOLS = Path(sys.executable).parent  # the checkers installed with the template's tests

# Every database with every broker it allows. Five are the suite's own combinations
# (harness.COMBINATIONS: accounts and every deployment option among them), whose checks and
# tests run here as the workflow runs them, so test_project.py leaves those two to this module;
# two more pair SQLite and PostgreSQL with Redis, each with a Redis job queue (PostgreSQL's with
# accounts): with test_jobs.py, every queue meets every database it allows, accounts on and off.
CI_COMBINATIONS = {
    "sqlite-memory": COMBINATIONS["sqlite"],
    "sqlite-redis": {"database": "sqlite", "broadcast": "redis", "jobs": "redis"},
    "postgresql-memory": COMBINATIONS["postgresql"],
    "postgresql-redis-users": {
        "database": "postgresql", "broadcast": "redis", "jobs": "redis", "auth": "users",
    },
    "postgresql-postgres-users": COMBINATIONS["deploy-all"],
    "mysql-memory-users": COMBINATIONS["users-mysql"],
    "mysql-redis": COMBINATIONS["mysql"],
}
STEPS_RUN_HERE = frozenset(
    name for name, context in COMBINATIONS.items() if context in CI_COMBINATIONS.values()
)
# The workflow's service names, and the server on this machine each one stands for.
SERVICES: dict[str, Server] = {
    "postgresql": SERVERS["postgresql"], "mariadb": SERVERS["mysql"], "redis": BROKERS["redis"],
}


def clean_clone(project: Path, into: Path) -> Path:
    """The project as a checkout sees it: committed, then cloned."""
    git = ["git", "-c", "user.name=CI", "-c", "user.email=ci@example.com"]
    run([*git, "init", "--quiet", "--initial-branch=main"], cwd=project)
    run([*git, "add", "--all"], cwd=project)
    run([*git, "commit", "--quiet", "--message", "Rendered"], cwd=project)
    run(["git", "clone", "--quiet", str(project), str(into)], cwd=project)
    return into


def job_environment(job: dict[str, Any], context: dict[str, str]) -> dict[str, str]:
    """The job's env, with a database of this run's own on the server the service stands for."""
    env = {key: str(value) for key, value in job.get("env", {}).items()}
    if context["database"] != "sqlite":
        database = env["DATABASE_URL"].rpartition("/")[2]
        env["DATABASE_URL"] = env["DATABASE_URL"].replace(
            f"/{database}", f"/tpl_ci_{secrets.token_hex(4)}"
        )
    return env


@pytest.mark.parametrize("combination", sorted(CI_COMBINATIONS))
def test_workflow_lints_and_declares_the_servers_it_needs(tmp_path: Path, combination: str) -> None:
    context = CI_COMBINATIONS[combination]
    project = render(tmp_path, **{"ci": "github", **context})
    workflow = project / ".github" / "workflows" / "ci.yml"

    lint = run([str(TOOLS / "actionlint"), "-no-color", str(workflow)], cwd=project)
    schema = run(
        [str(TOOLS / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
         str(workflow)],
        cwd=project,
    )
    assert lint.stdout + lint.stderr == ""
    assert "ok -- validation done" in schema.stdout

    job = the_job(project)
    services = job.get("services", {})
    # The services are exactly the servers the combination needs, on their usual ports.
    assert sorted(SERVICES[name].name for name in services) == sorted(
        server.name for server in servers_for(context)
    )
    for name, service in services.items():
        assert service["ports"] == [f"{SERVICES[name].port}:{SERVICES[name].port}"], name
    expected_broker = {"memory": "memory://", "redis": "redis://"}.get(
        context.get("broadcast", "memory"), "postgresql://postgres@127.0.0.1:5432/"
    )
    assert job["env"]["BROADCAST_URL"].startswith(expected_broker)


@pytest.mark.parametrize("combination", sorted(CI_COMBINATIONS))
def test_workflow_steps_pass_in_a_clean_clone(tmp_path: Path, combination: str) -> None:
    context = CI_COMBINATIONS[combination]
    project = render(tmp_path / "rendered", **{"ci": "github", **context})
    job = the_job(project)
    for name in job.get("services", {}):
        require_server(SERVICES[name])

    checkout = clean_clone(project, tmp_path / "checkout")
    assert not (checkout / ".env").exists()
    github_env = tmp_path / "github-env"
    github_env.touch()
    base = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    base.pop("VIRTUAL_ENV", None)
    env = {**base, **job_environment(job, context), "CI": "true", "GITHUB_ENV": str(github_env)}
    ran = []
    for step in job["steps"]:
        if "uses" in step:
            action = step["uses"].partition("@")[0]
            assert action in {"actions/checkout", "actions/setup-python"}, action
            if action == "actions/setup-python":
                version = "import sys; print('%d.%d' % sys.version_info[:2])"
                found = run(["python3", "-c", version], cwd=checkout, env=env).stdout.strip()
                assert found == step["with"]["python-version"]
            continue
        started = time.monotonic()
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=checkout, env=env, capture_output=True, text=True, timeout=600, check=False,
        )
        output = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        assert result.returncode == 0, f"{step['run']} exited {result.returncode}\n{output}"
        # As the runner does: what a step appends to $GITHUB_ENV is set for the next ones.
        for line in github_env.read_text().splitlines():
            key, _, value = line.partition("=")
            env[key] = value
        ran.append(step["run"])
        print(f"{combination}: {step['run'][:40]} took {time.monotonic() - started:.1f}s")
    assert ran[-3:] == ["scripts/install", "scripts/check", "scripts/test"]
    assert ("SECRET_KEY" in env) == (context.get("auth") == "users")


def the_job(project: Path) -> dict[str, Any]:
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    (job,) = workflow["jobs"].values()
    return dict(job)
