"""The pre-generation hook refuses bad answers with one sentence and leaves nothing behind."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .harness import ROOT, build_venv, render
from .modules import LISTING, installed, locked_distributions

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
    ({"package_name": "orjson"}, "would shadow the module"),
    ({"package_name": "granian"}, "would shadow the module"),
    ({"package_name": "pydantic_settings"}, "would shadow the module"),
    ({"package_name": "aiosqlite"}, "would shadow the module"),
    ({"package_name": "asyncpg", "database": "postgresql"}, "would shadow the module"),
    ({"package_name": "aiomysql", "database": "mysql"}, "would shadow the module"),
    ({"package_name": "openapi_spec_validator"}, "would shadow the module"),
    # Imported through the dependencies, not declared: every locked distribution counts.
    ({"package_name": "typing_extensions"}, "package_name 'typing_extensions' would shadow"),
    ({"package_name": "pydantic_core"}, "would shadow the module"),
    ({"package_name": "yaml"}, "would shadow the module"),
    ({"package_name": "dotenv"}, "would shadow the module"),
    ({"package_name": "attr"}, "would shadow the module"),
    ({"package_name": "_cffi_backend"}, "would shadow the module"),
    ({"package_name": "packaging"}, "would shadow the module"),
    ({"package_name": "pymysql"}, "would shadow the module"),
    ({"package_name": "_pytest"}, "would shadow the module"),
    # The project's own folders.
    ({"package_name": "docs"}, "would shadow the module"),
    ({"package_name": "migrations"}, "would shadow the module"),
    ({"project_name": "JSON"}, "package_name 'json' would shadow the module"),
    ({"project_name": ""}, "project_name '' has no letter or digit"),
    ({"project_name": "!!!"}, "project_name '!!!' has no letter or digit"),
    ({"project_name": "Two\nLines"}, "project_name 'Two\\nLines' holds a control character"),
    ({"project_slug": "../escape"}, "project_slug '../escape' is not a safe folder name"),
    ({"project_slug": "My Service"}, "is not a safe folder name"),
    ({"project_slug": "-flag"}, "is not a safe folder name"),
    ({"author_email": "not-an-email"}, "author_email 'not-an-email' is not an email address"),
    ({"author_email": "a@b"}, "is not an email address"),
    ({"version": "one"}, "version 'one' is not a PEP 440 version"),
    ({"kubernetes": "yes"}, "kubernetes=yes needs a database server"),
    ({"kubernetes": "yes", "database": "postgresql"}, "kubernetes=yes runs 2 to 10 pods"),
    (
        {"project_name": "3D Notes", "kubernetes": "yes", "database": "postgresql", "broadcast": "redis"},
        "kubernetes=yes names its objects after project_slug '3d-notes'",
    ),
    (
        {"project_slug": "svc_2", "kubernetes": "yes", "database": "mysql", "broadcast": "redis"},
        "but a Kubernetes Service name starts with a letter",
    ),
    ({"broadcast": "postgres"}, "broadcast=postgres uses LISTEN/NOTIFY on the app's PostgreSQL"),
    ({"broadcast": "postgres", "database": "mysql"}, "but database=mysql; choose database="),
    (
        {"jobs": "postgres", "broadcast": "redis"},
        "jobs=postgres keeps its queue in the app's PostgreSQL database, but database=sqlite",
    ),
    ({"jobs": "redis"}, "progress events reach the web process's WebSockets only through a broker"),
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


def render_copy(tmp_path: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    """Render a copy of the template made of `names` (more may be added to it first)."""
    template = tmp_path / "template"
    template.mkdir(exist_ok=True)
    for name in names:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, template / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, template / name)
    output = tmp_path / "out"
    output.mkdir()
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output)]
    return subprocess.run(
        [*command, str(template)], capture_output=True, text=True, check=False, timeout=60
    )


TEMPLATE_FILES = ["cookiecutter.json", "pyproject.toml", "hooks", "{{cookiecutter.project_slug}}"]


def test_a_template_without_its_lock_is_refused(tmp_path: Path) -> None:
    result = render_copy(tmp_path, TEMPLATE_FILES)

    assert result.returncode == 1
    template = tmp_path / "template"
    assert f"ERROR: the template at {template} lacks uv.lock; render from" in result.stderr
    assert list((tmp_path / "out").iterdir()) == []


def test_a_lock_older_than_the_pins_is_refused(tmp_path: Path) -> None:
    (tmp_path / "template").mkdir()  # with a pin changed since the lock
    pins = (ROOT / "pyproject.toml").read_text()
    bumped = re.sub(r'"starlette==[^"]+"', '"starlette==0.1.0"', pins)
    assert bumped != pins
    (tmp_path / "template" / "pyproject.toml").write_text(bumped)

    result = render_copy(tmp_path, [*TEMPLATE_FILES[:1], "uv.lock", *TEMPLATE_FILES[2:]])

    assert result.returncode == 1
    assert (
        "ERROR: the template's uv.lock was not made from its pyproject.toml's pins; run the "
        "template's scripts/lock." in result.stderr
    )
    assert list((tmp_path / "out").iterdir()) == []


def test_every_dependency_is_a_reserved_name() -> None:
    # Every pin a render can install: the template's pins, in its own pyproject.toml (the build
    # backend runs apart, in an environment of its own).
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())
    groups = [deps for name, deps in pins["dependency-groups"].items() if name != "build"]
    requirements = [*pins["project"]["dependencies"], *(dep for deps in groups for dep in deps)]
    installs = "\n".join(f'"{requirement}"' for requirement in requirements if isinstance(requirement, str))
    dependencies = re.findall(r'"([a-z0-9-]+)(?:\[[a-z0-9,]+\])?==([^"]+)"', installs)
    listed = json.loads(LISTING.read_text())
    hook = (ROOT / "hooks" / "pre_gen_project.py").read_text()

    assert len(dependencies) >= 25
    pinned = [f"{name}=={version}" for name, version in dependencies]
    assert [pin for pin in pinned if pin not in listed] == []
    # The hook reads them from the list, so none may be listed by hand in it.
    assert [name for name, _ in dependencies if f'"{name}"' in hook] == []


def test_the_list_of_locked_modules_is_current() -> None:
    listed = json.loads(LISTING.read_text())

    # After scripts/lock, scripts/modules brings the list up to date.
    assert sorted(listed) == sorted(locked_distributions())
    assert listed["typing-extensions==" + version_of(listed, "typing-extensions")] == [
        "typing_extensions"
    ]


def test_the_locked_modules_are_what_an_installed_environment_holds(tmp_path: Path) -> None:
    venv = build_venv([render(tmp_path)])
    (site_packages,) = venv.glob("lib/python*/site-packages")
    listed = json.loads(LISTING.read_text())

    found = {name: modules for name, modules in installed(site_packages).items() if name in listed}

    assert len(found) >= 40, sorted(found)  # all but the drivers and options not rendered
    assert {name: listed[name] for name in found} == found


def version_of(listed: dict[str, list[str]], name: str) -> str:
    (version,) = [key.partition("==")[2] for key in listed if key.partition("==")[0] == name]
    return version


NAMES = [
    ("Ada's Notes", "adas-notes", "adas_notes"),
    ("Café Notes", "cafe-notes", "cafe_notes"),
    ("Notes 2.0", "notes-2-0", "notes_2_0"),
    ("My App!", "my-app", "my_app"),
    ("2048 Game", "2048-game", "app_2048_game"),
    ("  Über   Büro  ", "uber-buro", "uber_buro"),
    ('Say "Hi" \\ Co', "say-hi-co", "say_hi_co"),
]


@pytest.mark.parametrize(("name", "slug", "package"), NAMES, ids=[n for n, _, _ in NAMES])
def test_ordinary_project_names_render(tmp_path: Path, name: str, slug: str, package: str) -> None:
    project = render(tmp_path, project_name=name)

    assert project.name == slug
    assert (project / package / "asgi.py").is_file()
    assert tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"] == slug
    about = (project / package / "web" / "about.py").read_text()
    assert ast.literal_eval(about.split("\nTITLE = ")[1].splitlines()[0]) == name


@pytest.mark.parametrize(
    "context",
    [
        {"project_name": "Acme Billing"},
        {"project_name": "Acme Billing", "package_name": "billing"},
        {"project_slug": "svc_2", "package_name": "svc_2"},
        {"author_email": "first.last+tag@mail.example.org", "version": "1.0.0rc1"},
        {"tracing": "opentelemetry", "auth": "users", "broadcast": "redis"},
        {"error_reporting": "sentry", "tracing": "opentelemetry", "database": "postgresql"},
    ],
)
def test_good_answers_render(tmp_path: Path, context: dict[str, str]) -> None:
    project = render(tmp_path, **context)

    assert project.is_dir()
    assert (project / "pyproject.toml").is_file()


def test_refuses_a_dependency_name_when_started_inside_the_template(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(tmp_path)]

    result = subprocess.run(
        [*command, ".", "package_name=granian"], cwd=ROOT,
        capture_output=True, text=True, check=False, timeout=60,
    )

    assert result.returncode == 1
    assert "ERROR: package_name 'granian' would shadow the module" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("context", "steps"),
    [
        ({"database": "sqlite"}, ["scripts/install", "scripts/migrate upgrade head", "scripts/run"]),
        (
            {"database": "postgresql", "auth": "users"},
            ["scripts/install", "scripts/createdb", "scripts/migrate upgrade head",
             "scripts/manage createuser you@example.com", "scripts/run"],
        ),
    ],
    ids=["sqlite", "postgresql-users"],
)
def test_the_render_ends_with_the_first_steps_the_project_has(
    tmp_path: Path, context: dict[str, str], steps: list[str]
) -> None:
    # With accounts, nobody can sign in until the first account exists: the hint says how.
    result = cookiecutter_cli(tmp_path, context)

    assert result.returncode == 0, result.stderr
    *_, rendered, change_directory, commands = result.stdout.strip().splitlines()
    assert rendered == "Rendered my-service. Next:"
    assert change_directory.strip() == "cd my-service"
    assert commands.strip().split(" && ") == steps
    for step in steps:
        script = tmp_path / "my-service" / step.split()[0]
        assert script.is_file() and script.stat().st_mode & 0o111, step
