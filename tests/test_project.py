"""Each supported combination passes its own checks, tests and migrations."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import COMBINATIONS, render, run


@pytest.fixture(params=sorted(COMBINATIONS))
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return render(tmp_path, **COMBINATIONS[request.param])


def test_check_passes(project: Path, project_env: dict[str, str]) -> None:
    result = run(["scripts/check"], cwd=project, env=project_env)

    assert "Success: no issues found" in result.stdout


def test_own_test_suite_passes(project: Path, project_env: dict[str, str]) -> None:
    result = run(["scripts/test", "-q", "-p", "no:cacheprovider"], cwd=project, env=project_env)

    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary


def test_migrations_round_trip_without_drift(project: Path, project_env: dict[str, str]) -> None:
    for arguments in (["upgrade", "head"], ["downgrade", "base"], ["upgrade", "head"], ["check"]):
        result = run(["scripts/migrate", *arguments], cwd=project, env=project_env)

    assert "No new upgrade operations detected" in result.stdout + result.stderr
    current = run(["scripts/migrate", "current"], cwd=project, env=project_env)
    assert "0001 (head)" in current.stdout
