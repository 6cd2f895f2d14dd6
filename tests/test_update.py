"""A project made from the template takes later template changes with `cruft update`."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from .harness import ROOT, run

GIT = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(cwd: Path, *arguments: str) -> str:
    return run(["git", *arguments], cwd=cwd, env={**os.environ, **GIT}).stdout.strip()


def template_copy(target: Path) -> Path:
    """The template's files as they are in this working tree, without git."""
    files = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    for name in files:
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def template_repository(target: Path) -> Path:
    """The template as it is in this working tree, committed to a repository of its own."""
    template_copy(target)
    git(target, "init", "-q")
    git(target, "add", "-A")
    git(target, "commit", "-qm", "The template today")
    return target


def test_a_project_takes_a_later_template_change(
    tmp_path: Path, project_env: dict[str, str]
) -> None:
    template = template_repository(tmp_path / "template")
    project = Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp_path / "out")))
    recorded = json.loads((project / ".cruft.json").read_text())
    assert recorded["commit"] == git(template, "rev-parse", "HEAD")
    assert recorded["template"] == str(template)
    # The project is committed and changed by its team...
    git(project, "init", "-q")
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nOur team's notes.\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "A project of our own")
    # ...while the template moves on.
    source = template / "{{cookiecutter.project_slug}}" / "{{cookiecutter.package_name}}" / "tables.py"
    source.write_text(source.read_text().replace('"""The whole schema', '"""The schema'))
    git(template, "commit", "-qam", "A template improvement")

    update = run(
        [sys.executable, "-m", "cruft", "update", "--skip-apply-ask"],
        cwd=project, env={**os.environ, **GIT},
    )

    assert "Good work!" in update.stdout or "updated" in update.stdout.lower(), update.stdout
    assert (project / "my_service" / "tables.py").read_text().startswith('"""The schema')
    assert "Our team's notes." in readme.read_text()
    assert not list(project.rglob("*.rej"))
    updated = json.loads((project / ".cruft.json").read_text())
    assert updated["commit"] == git(template, "rev-parse", "HEAD") != recorded["commit"]
    run(["scripts/check"], cwd=project, env=project_env)
    run(["scripts/test", "-q", "-p", "no:cacheprovider"], cwd=project, env=project_env)


def test_a_template_without_git_says_how_to_record_it_later(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    template = template_copy(tmp_path / "unpacked")  # as from an archive

    project = Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp_path / "out")))

    assert not (project / ".cruft.json").exists()
    assert "cruft link" in capfd.readouterr().out
