"""Each supported combination passes its own checks, tests and migrations.

The combinations whose CI workflow test_ci.py runs (install, check, test in a clean clone)
have their checks and tests run there; here they only migrate.
"""

from __future__ import annotations

import pytest

from .conftest import Project
from .harness import COMBINATIONS, run
from .test_ci import STEPS_RUN_HERE

OTHERS = sorted(set(COMBINATIONS) - STEPS_RUN_HERE)


@pytest.mark.parametrize("project", OTHERS, indirect=True)
def test_check_passes(project: Project) -> None:
    result = run(["scripts/check"], cwd=project.path, env=project.env)

    assert "Success: no issues found" in result.stdout


@pytest.mark.parametrize("project", OTHERS, indirect=True)
def test_own_test_suite_passes(project: Project) -> None:
    # A guard against a hang, not a speed check: the largest suite (every option on PostgreSQL)
    # takes under half a minute alone and a few when CI's two cores are also building images
    # and driving browsers.
    command = ["scripts/test", "-q", "-p", "no:cacheprovider"]
    result = run(command, cwd=project.path, env=project.env, timeout=600)

    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary


def test_migrations_round_trip_without_drift(project: Project) -> None:
    for arguments in (["upgrade", "head"], ["downgrade", "base"], ["upgrade", "head"], ["check"]):
        result = run(["scripts/migrate", *arguments], cwd=project.path, env=project.env)

    assert "No new upgrade operations detected" in result.stdout + result.stderr
    current = run(["scripts/migrate", "current"], cwd=project.path, env=project.env)
    revisions = (project.path / "migrations" / "versions").glob("[0-9]*_*.py")
    newest = max(path.name.partition("_")[0] for path in revisions)
    assert f"{newest} (head)" in current.stdout
