"""Each Python the template offers runs a rendered project's own checks and tests, on each
database.

The other template tests run on the interpreter of the template's .venv (3.11 here), so
test_project.py and test_ci.py cover that version on every database; this module adds the
others.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from .conftest import own_servers, require_python
from .harness import ROOT, build_venv, render, run, venv_env

OFFERED = json.loads((ROOT / "cookiecutter.json").read_text())["python_version"]
VERSIONS = [version for version in OFFERED if version != "%d.%d" % sys.version_info[:2]]
DATABASES = ["sqlite", "postgresql", "mysql"]


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("version", VERSIONS)
def test_check_and_tests_pass_on(tmp_path: Path, version: str, database: str) -> None:
    python = require_python(version)
    context = {"python_version": version, "database": database}
    path = render(tmp_path, **context)
    env = venv_env(build_venv([path], python=python))

    with own_servers(path, env, context) as project:
        version_line = run(["python", "--version"], cwd=project.path, env=project.env).stdout
        assert version_line.startswith(f"Python {version}"), version_line
        # The package's code is the same on every database (only its driver differs), so
        # lint and types are checked once per Python.
        if database == "sqlite":
            checked = run(["scripts/check"], cwd=project.path, env=project.env)
            assert "Success: no issues found" in checked.stdout
        # -rap lists what passed and what was skipped, to tell that the outage tests ran.
        command = ["scripts/test", "-q", "-p", "no:cacheprovider", "-rap"]
        result = run(command, cwd=project.path, env=project.env, timeout=600)

    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    if database != "sqlite":  # the tests that cut the database server away ran, and passed
        outage = [line for line in result.stdout.splitlines() if "/test_outage.py::" in line]
        assert outage and all(line.startswith("PASSED ") for line in outage), result.stdout
