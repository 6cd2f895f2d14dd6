"""What the template renders: names substituted everywhere, files parse, secrets are fresh."""

from __future__ import annotations

import ast
import re
import stat
import tomllib
from pathlib import Path

import pytest

from .harness import ROOT, render

TEMPLATE = ROOT / "{{cookiecutter.project_slug}}"


def rendered_files(project: Path) -> list[Path]:
    return [path for path in project.rglob("*") if path.is_file()]


def test_no_template_syntax_survives(default_project: Path) -> None:
    leftovers = []
    for path in rendered_files(default_project):
        text = path.read_text()
        relative = path.relative_to(default_project)
        if "cookiecutter" in text:
            leftovers.append(f"{relative}: cookiecutter")
        # The app's own Jinja templates are copied verbatim; they are checked below.
        if relative.parts[1:2] != ("templates",) and ("{{" in text or "{%" in text):
            leftovers.append(f"{relative}: template tag")
    assert leftovers == []


def test_app_templates_and_static_files_are_copied_verbatim(default_project: Path) -> None:
    for folder in ("templates", "static"):
        source = TEMPLATE / "{{cookiecutter.package_name}}" / folder
        copied = default_project / "my_service" / folder
        assert sorted(p.name for p in copied.iterdir()) == sorted(p.name for p in source.iterdir())
        for path in source.iterdir():
            assert (copied / path.name).read_text() == path.read_text()


def test_every_python_file_parses(default_project: Path) -> None:
    python_files = [path for path in rendered_files(default_project) if path.suffix == ".py"]

    assert len(python_files) > 15
    for path in python_files:
        ast.parse(path.read_text(), filename=str(path))


def test_pyproject_structure(default_project: Path) -> None:
    pyproject = tomllib.loads((default_project / "pyproject.toml").read_text())
    project = pyproject["project"]

    assert project["name"] == "my-service"
    assert project["requires-python"] == ">=3.11"
    names = {requirement.split("[")[0].split("==")[0] for requirement in project["dependencies"]}
    assert {"starlette", "uvicorn", "databases", "aiosqlite", "sqlalchemy", "alembic"} <= names
    assert all("==" in requirement for requirement in project["dependencies"])
    dev = pyproject["dependency-groups"]["dev"]
    assert {"pytest", "ruff", "mypy"} <= {requirement.split("==")[0] for requirement in dev}
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["my_service"]
    assert pyproject["tool"]["mypy"]["strict"] is True
    assert pyproject["tool"]["ruff"]["target-version"] == "py311"
    assert "--strict-markers" in pyproject["tool"]["pytest"]["ini_options"]["addopts"]


@pytest.mark.parametrize("python_version", ["3.12", "3.13"])
def test_python_version_sets_the_floor(tmp_path: Path, python_version: str) -> None:
    project = render(tmp_path, python_version=python_version)

    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={python_version}"
    assert pyproject["tool"]["ruff"]["target-version"] == f"py{python_version.replace('.', '')}"


def test_names_follow_the_project_name(tmp_path: Path) -> None:
    project = render(tmp_path, project_name="Acme Billing")

    assert project.name == "acme-billing"
    assert (project / "acme_billing" / "asgi.py").is_file()
    assert "acme_billing.asgi:app" in (project / "scripts" / "start").read_text()
    assert "from acme_billing.tables import metadata" in (project / "migrations/env.py").read_text()


def test_env_gets_a_fresh_secret_and_stays_private(tmp_path: Path) -> None:
    first = render(tmp_path / "a")
    second = render(tmp_path / "b")

    secrets = []
    for project in (first, second):
        env = dict(
            line.split("=", 1)
            for line in (project / ".env").read_text().splitlines()
            if line and not line.startswith("#")
        )
        assert len(env["SECRET_KEY"]) >= 48
        assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600
        assert ".env" in (project / ".gitignore").read_text().splitlines()
        secrets.append(env["SECRET_KEY"])
    assert secrets[0] != secrets[1]
    assert "SECRET_KEY=change-me" in (first / ".env.example").read_text()


def test_env_example_documents_every_setting(default_project: Path) -> None:
    settings = (default_project / "my_service" / "settings.py").read_text()
    example = (default_project / ".env.example").read_text()

    read = set(re.findall(r'config\(\s*"([A-Z_]+)"', settings))
    documented = {
        line.split("=")[0] for line in example.splitlines() if line and not line.startswith("#")
    }
    assert len(read) >= 5
    assert read == documented


def test_scripts_are_executable(default_project: Path) -> None:
    for name in ("install", "run", "start", "migrate", "test", "check", "lint"):
        assert (default_project / "scripts" / name).stat().st_mode & stat.S_IXUSR, name


@pytest.mark.parametrize(
    ("database", "driver", "url"),
    [
        ("sqlite", "aiosqlite", "sqlite+aiosqlite:///./my_service.db"),
        ("postgresql", "asyncpg", "postgresql+asyncpg://postgres@127.0.0.1:5432/my_service"),
        ("mysql", "aiomysql", "mysql+aiomysql://root@127.0.0.1:3306/my_service"),
    ],
)
def test_database_option_sets_driver_url_and_files(
    tmp_path: Path, database: str, driver: str, url: str
) -> None:
    project = render(tmp_path, database=database)

    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    names = {requirement.split("==")[0] for requirement in pyproject["project"]["dependencies"]}
    assert driver in names
    assert not ({"aiosqlite", "asyncpg", "aiomysql"} - {driver}) & names
    assert f"DATABASE_URL={url}\n" in (project / ".env").read_text()
    # The outage tests cut a database server's connections; SQLite has none to cut.
    assert (project / "tests" / "test_outage.py").exists() == (database != "sqlite")
