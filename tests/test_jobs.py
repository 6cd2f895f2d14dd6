"""The job queues on the databases and with the accounts the CI-workflow runs leave out: each
render passes its checks, and its worker tests run real workers against this machine's Redis
or PostgreSQL, with its export and (with accounts) mail tests.

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
TESTS = ["tests/ops/test_worker.py", "tests/notes/test_export.py", "tests/core/test_jobs.py"]


@pytest.mark.parametrize("combination", sorted(QUEUES))
def test_a_queue_passes_its_checks_and_its_workers_run(tmp_path: Path, combination: str) -> None:
    context = QUEUES[combination]
    path = render(tmp_path, **context)
    env = venv_env(build_venv([path]))
    with own_servers(path, env, context) as project:
        run(["scripts/check"], cwd=project.path, env=project.env)
        accounts = ["tests/accounts/test_mail.py"] if context.get("auth") == "users" else []
        command = ["scripts/test", "-q", "-p", "no:cacheprovider", *TESTS, *accounts]
        result = run(command, cwd=project.path, env=project.env, timeout=600)

    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert "skipped" not in summary, summary  # the workers ran
