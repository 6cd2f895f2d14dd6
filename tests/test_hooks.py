"""The pre-generation hook refuses bad answers with one sentence and leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .harness import ROOT, render

REFUSED = [
    ({"package_name": "2fast"}, "package_name '2fast' is not a valid Python identifier"),
    ({"package_name": "my-service"}, "is not a valid Python identifier"),
    ({"package_name": "class"}, "package_name 'class' is a Python keyword"),
    ({"package_name": "match"}, "is a Python keyword"),
    ({"package_name": "MyService"}, "should be lowercase"),
    ({"package_name": "json"}, "package_name 'json' would shadow the module"),
    ({"package_name": "asyncio"}, "would shadow the module"),
    ({"package_name": "test"}, "would shadow the module"),
    ({"package_name": "starlette"}, "would shadow the module"),
    ({"package_name": "alembic"}, "would shadow the module"),
    ({"package_name": "databases"}, "would shadow the module"),
    ({"package_name": "sqlalchemy"}, "would shadow the module"),
    ({"project_slug": "../escape"}, "project_slug '../escape' is not a safe folder name"),
    ({"project_slug": "My Service"}, "is not a safe folder name"),
    ({"project_slug": "-flag"}, "is not a safe folder name"),
    ({"author_email": "not-an-email"}, "author_email 'not-an-email' is not an email address"),
    ({"author_email": "a@b"}, "is not an email address"),
    ({"version": "one"}, "version 'one' is not a PEP 440 version"),
]


def cookiecutter_cli(output_dir: Path, context: dict[str, str]) -> subprocess.CompletedProcess[str]:
    answers = [f"{key}={value}" for key, value in context.items()]
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output_dir)]
    return subprocess.run(
        [*command, str(ROOT), *answers], capture_output=True, text=True, check=False, timeout=60
    )


@pytest.mark.parametrize(("context", "reason"), REFUSED, ids=[str(c) for c, _ in REFUSED])
def test_bad_answer_is_refused_with_a_reason(
    tmp_path: Path, context: dict[str, str], reason: str
) -> None:
    output = tmp_path / "out"
    output.mkdir()

    result = cookiecutter_cli(output, context)

    assert result.returncode == 1
    sentences = [line for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    assert any(reason in line for line in sentences), result.stderr
    assert list(output.iterdir()) == []
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize(
    "context",
    [
        {"project_name": "Acme Billing"},
        {"project_name": "Acme Billing", "package_name": "billing"},
        {"project_slug": "svc_2", "package_name": "svc_2"},
        {"author_email": "first.last+tag@mail.example.org", "version": "1.0.0rc1"},
    ],
)
def test_good_answers_render(tmp_path: Path, context: dict[str, str]) -> None:
    project = render(tmp_path, **context)

    assert project.is_dir()
    assert (project / "pyproject.toml").is_file()
