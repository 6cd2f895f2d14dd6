"""The job queues on the databases and with the accounts the CI-workflow runs leave out: each
render passes its checks and its whole suite, whose worker tests run real workers against this
machine's Redis or PostgreSQL.

With test_ci.py's `sqlite-redis`, `postgresql-redis-users`, `mysql-redis` (Redis queues) and
`postgresql-postgres-users` (a PostgreSQL queue), which run each project's whole suite, every
queue meets every database it allows with accounts on and off: eight combinations.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import own_servers
from .harness import build_venv, render, run, venv_env

QUEUES = {
    "sqlite-redis-users": {
        "database": "sqlite", "broadcast": "redis", "jobs": "redis", "auth": "users",
    },
    "postgresql-redis": {"database": "postgresql", "broadcast": "redis", "jobs": "redis"},
    "postgresql-postgres": {"database": "postgresql", "broadcast": "postgres", "jobs": "postgres"},
    "mysql-redis-users": {
        "database": "mysql", "broadcast": "redis", "jobs": "redis", "auth": "users",
    },
}

@pytest.mark.parametrize("combination", sorted(QUEUES))
def test_a_queue_passes_its_checks_and_its_workers_run(tmp_path: Path, combination: str) -> None:
    context = QUEUES[combination]
    path = render(tmp_path, **context)
    env = venv_env(build_venv([path]))
    with own_servers(path, env, context) as project:
        run(["scripts/check"], cwd=project.path, env=project.env)
        command = ["scripts/test", "-q", "-p", "no:cacheprovider"]
        result = run(command, cwd=project.path, env=project.env, timeout=600)

    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    skips = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert not [line for line in skips if "tests/ops/" in line], skips  # the workers ran
