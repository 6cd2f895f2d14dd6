"""Each Python the template offers runs a rendered project's own checks and tests.

The other template tests run on the interpreter of the template's .venv (3.11 here).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import require_python
from .harness import build_venv, render, run, venv_env


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_check_and_tests_pass_on(tmp_path: Path, version: str) -> None:
    python = require_python(version)
    project = render(tmp_path, python_version=version)
    env = venv_env(build_venv([project], python=python))

    assert run(["python", "--version"], cwd=project, env=env).stdout.startswith(f"Python {version}")
    assert "Success: no issues found" in run(["scripts/check"], cwd=project, env=env).stdout
    result = run(["scripts/test", "-q", "-p", "no:cacheprovider"], cwd=project, env=env)
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
