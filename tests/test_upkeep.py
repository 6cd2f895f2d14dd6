"""What keeps the template and a rendered project current: Dependabot's configs (valid, and
covering what each ships) and the rendered project's pre-commit hooks, run on a fresh render."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from .harness import ROOT, build_venv, render, run, venv_env

TOOLS = Path(sys.executable).parent


def check_schema(config: Path) -> None:
    result = run(
        [str(TOOLS / "check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(config)],
        cwd=ROOT,
    )
    assert "ok -- validation done" in result.stdout


def test_template_dependabot_updates_the_one_lock() -> None:
    config = ROOT / ".github" / "dependabot.yml"
    check_schema(config)
    (update,) = yaml.safe_load(config.read_text())["updates"]
    # The root pyproject.toml and uv.lock: the pins of every render.
    assert (update["package-ecosystem"], update["directory"]) == ("uv", "/")
    assert update["groups"]["pins"]["patterns"] == ["*"]
    assert update["cooldown"]["default-days"] >= 3


def test_rendered_dependabot_covers_the_lock_workflow_and_image(tmp_path: Path) -> None:
    project = render(tmp_path)
    config = project / ".github" / "dependabot.yml"
    check_schema(config)
    updates = {
        update["package-ecosystem"]: update for update in yaml.safe_load(config.read_text())["updates"]
    }
    assert sorted(updates) == ["docker", "github-actions", "uv"]
    for update in updates.values():
        assert update["directory"] == "/" and update["groups"] and update["cooldown"]
    # What each one updates is there: the lock, the workflow, the Dockerfile's base image.
    assert (project / "uv.lock").is_file() and (project / ".github/workflows/ci.yml").is_file()
    assert re.search(r"^FROM docker\.io/library/python:", (project / "Dockerfile").read_text(), re.M)
    # Without CI the project is not assumed to live on GitHub: Dependabot goes with .github.
    assert not (render(tmp_path / "no-ci", ci="none") / ".github").exists()


def test_pre_commit_runs_what_scripts_check_runs(tmp_path: Path) -> None:
    project = render(tmp_path)
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    entries = [hook["entry"] for repo in config["repos"] for hook in repo["hooks"]]
    checks = [
        line for line in (project / "scripts/check").read_text().splitlines()
        if line.startswith('"${PREFIX}')
    ]
    assert [f"sh -c '. scripts/env && exec {check}'" for check in checks] == entries

    env = {**venv_env(build_venv([project])), "PRE_COMMIT_HOME": str(tmp_path / "pre-commit")}
    for command in (["git", "init", "-q"], ["git", "add", "-A"]):
        run(command, cwd=project, env=env)
    pre_commit = ["pre-commit", "run", "--all-files", "--color", "never"]
    passed = run(pre_commit, cwd=project, env=env, timeout=600).stdout
    assert re.findall(r"^(ruff check|ruff format --check|mypy --strict)\.+Passed$", passed, re.M) == [
        "ruff check", "ruff format --check", "mypy --strict",
    ]
    # And it stops a commit that scripts/check would refuse.
    module = project / "my_service" / "asgi.py"
    module.write_text(module.read_text() + "import os\n")
    failed = subprocess.run(
        pre_commit, cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert failed.returncode != 0
    assert re.search(r"^ruff check\.+Failed$", failed.stdout, re.M), failed.stdout
    assert "F401" in failed.stdout
