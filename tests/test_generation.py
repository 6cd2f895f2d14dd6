"""What the template renders: names substituted everywhere, files parse, settings documented."""

from __future__ import annotations

import ast
import re
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from .harness import COMBINATIONS, ROOT, build_venv, render, run, venv_env

TEMPLATE = ROOT / "{{cookiecutter.project_slug}}"


def rendered_files(project: Path) -> list[Path]:
    return [path for path in project.rglob("*") if path.is_file()]


# GitHub's own expressions in the rendered workflow, which are meant to be there.
GITHUB_EXPRESSION = re.compile(r"\$\{\{[^}]*\}\}")


@pytest.mark.parametrize("combination", ["sqlite", "deploy-all"])
def test_no_template_syntax_survives(tmp_path: Path, combination: str) -> None:
    project = render(tmp_path, **COMBINATIONS[combination])
    leftovers = []
    for path in rendered_files(project):
        try:
            text = GITHUB_EXPRESSION.sub("", path.read_text())
        except UnicodeDecodeError:  # binary (the common passwords, gzipped): copied as it is
            continue
        relative = path.relative_to(project)
        if "cookiecutter" in text and relative.name != ".cruft.json":  # cruft's own format
            leftovers.append(f"{relative}: cookiecutter")
        # The app's own Jinja templates are copied verbatim; they are checked below. The
        # tutorial quotes them in its changes to index.html.
        quoting = "templates" in relative.parts[1:3] or relative == Path("docs/tutorial.md")
        if not quoting and ("{{" in text or "{%" in text):
            leftovers.append(f"{relative}: template tag")
    assert leftovers == []


@pytest.mark.parametrize("auth", ["none", "users"])
def test_app_templates_and_static_files_are_copied_verbatim(tmp_path: Path, auth: str) -> None:
    project = render(tmp_path, auth=auth)
    source = TEMPLATE / "{{cookiecutter.package_name}}"
    folders = sorted(
        path.relative_to(source) for path in source.glob("**/*") if path.name in {"templates", "static"}
    )
    assert {str(folder) for folder in folders} >= {"static", "web/templates", "notes/templates"}
    for folder in folders:
        copied = project / "my_service" / folder
        # The account pages' templates, with their folder, and their script are the only ones a
        # choice leaves out.
        if folder.parts[0] == "accounts" and auth == "none":
            assert not copied.exists()
            continue
        # Files in subfolders too (accounts/templates/emails/).
        expected = {str(path.relative_to(source / folder)) for path in (source / folder).rglob("*")
                    if path.is_file()}
        if str(folder) == "static" and auth == "none":
            expected.remove("account.js")
        assert {str(path.relative_to(copied)) for path in copied.rglob("*")
                if path.is_file()} == expected
        for name in expected:
            assert (copied / name).read_text() == (source / folder / name).read_text()


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


def test_env_is_for_development_and_stays_private(default_project: Path) -> None:
    env = dict(
        line.split("=", 1)
        for line in (default_project / ".env").read_text().splitlines()
        if line and not line.startswith("#")
    )

    assert env["DEBUG"] == "true"
    assert env["DATABASE_URL"] == "sqlite+aiosqlite:///./my_service.db"
    assert stat.S_IMODE((default_project / ".env").stat().st_mode) == 0o600
    assert ".env" in (default_project / ".gitignore").read_text().splitlines()
    assert "DEBUG=false" in (default_project / ".env.example").read_text()


def test_env_example_documents_every_setting(
    default_project: Path, project_env: dict[str, str]
) -> None:
    code = "from my_service.core.settings import Settings; print(*Settings.model_fields)"
    fields = run(["python", "-c", code], cwd=default_project, env=project_env).stdout.split()
    example = (default_project / ".env.example").read_text()

    documented = {
        line.split("=")[0] for line in example.splitlines() if line and not line.startswith("#")
    }
    assert len(fields) >= 5
    assert {name.upper() for name in fields} == documented


def test_scripts_are_executable(default_project: Path) -> None:
    for name in ("install", "run", "start", "migrate", "test", "check", "lint"):
        assert (default_project / "scripts" / name).stat().st_mode & stat.S_IXUSR, name


def zip_template(archive: Path) -> None:
    """The template as GitHub's archive flow hands it over: one top folder, no file modes kept;
    with the pins and the lock each render's dependencies come from."""
    paths = [
        *(ROOT / name for name in ("cookiecutter.json", "pyproject.toml", "uv.lock")),
        *(ROOT / "hooks").iterdir(), *TEMPLATE.rglob("*"),
    ]
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("template/", "")
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts:
                bundle.write(path, Path("template") / path.relative_to(ROOT))


def test_scripts_are_executable_when_rendered_from_a_zip(
    tmp_path: Path, project_env: dict[str, str]
) -> None:
    archive = tmp_path / "template.zip"
    zip_template(archive)
    config = tmp_path / "config.yaml"
    config.write_text(f"cookiecutters_dir: {tmp_path / 'unpacked'}\nreplay_dir: {tmp_path}\n")
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "--config-file", str(config)]
    run([*command, "-o", str(tmp_path / "out"), str(archive)], cwd=tmp_path)
    project = tmp_path / "out" / "my-service"

    scripts = [path for path in (project / "scripts").iterdir() if path.read_text().startswith("#!")]
    assert len(scripts) >= 7
    for path in scripts:
        assert path.stat().st_mode & stat.S_IXUSR, path.name
    result = subprocess.run(
        ["scripts/test", "--version"], cwd=project, env=project_env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


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
    assert (project / "tests" / "core" / "test_outage.py").exists() == (database != "sqlite")


@pytest.mark.parametrize(
    ("context", "url", "module", "package"),
    [
        ({}, "memory://", None, None),
        ({"broadcast": "redis"}, "redis://127.0.0.1:6379/0", "broker_redis.py", "redis"),
        (
            {"broadcast": "postgres", "database": "postgresql"},
            "postgresql://postgres@127.0.0.1:5432/my_service",
            "broker_postgres.py",
            None,  # asyncpg, the database driver already
        ),
    ],
)
def test_broadcast_option_sets_broker_url_module_and_dependency(
    tmp_path: Path, context: dict[str, str], url: str, module: str | None, package: str | None
) -> None:
    project = render(tmp_path, **context)

    assert f"BROADCAST_URL={url}\n" in (project / ".env").read_text()
    kept = sorted(path.name for path in (project / "my_service" / "core").glob("broker_*.py"))
    assert kept == ([module] if module else [])
    assert (project / "tests" / "core" / "test_broker.py").exists() == (module is not None)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    names = {requirement.split("==")[0] for requirement in pyproject["project"]["dependencies"]}
    assert ("redis" in names) == (package == "redis")


@pytest.mark.parametrize("tracing", ["none", "opentelemetry"])
def test_tracing_option_sets_module_tests_and_dependencies(tmp_path: Path, tracing: str) -> None:
    project = render(tmp_path, tracing=tracing)

    module = (project / "my_service" / "core" / "tracing.py").read_text()
    assert ("OTLPSpanExporter" in module) == (tracing == "opentelemetry")
    assert not (project / "my_service" / "core" / "tracing_otel.py").exists()
    assert (project / "tests" / "core" / "test_tracing.py").exists() == (tracing != "none")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    names = {requirement.split("==")[0] for requirement in pyproject["project"]["dependencies"]}
    otel = {name for name in names if name.startswith("opentelemetry")}
    expected = {
        "opentelemetry-exporter-otlp-proto-http", "opentelemetry-instrumentation-redis",
        "opentelemetry-proto", "opentelemetry-sdk",
    }
    assert otel == (expected if tracing == "opentelemetry" else set())
    example = (project / ".env.example").read_text()
    assert ("OTEL_EXPORTER_OTLP_ENDPOINT=\n" in example) == (tracing == "opentelemetry")
    operating = (project / "docs" / "operating.md").read_text()
    assert ("## Traces" in operating) == (tracing == "opentelemetry")


@pytest.mark.parametrize("error_reporting", ["none", "sentry"])
def test_error_reporting_option_sets_module_tests_and_dependency(
    tmp_path: Path, error_reporting: str
) -> None:
    project = render(tmp_path, error_reporting=error_reporting)

    module = (project / "my_service" / "core" / "reporting.py").read_text()
    assert ("sentry_sdk.init" in module) == (error_reporting == "sentry")
    assert not (project / "my_service" / "core" / "reporting_sentry.py").exists()
    tests = project / "tests" / "core" / "test_reporting.py"
    assert tests.exists() == (error_reporting != "none")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    names = {requirement.split("==")[0] for requirement in pyproject["project"]["dependencies"]}
    assert ("sentry-sdk" in names) == (error_reporting == "sentry")
    example = (project / ".env.example").read_text()
    assert ("SENTRY_DSN=\n" in example) == (error_reporting == "sentry")
    operating = (project / "docs" / "operating.md").read_text()
    assert ("## Error reports" in operating) == (error_reporting == "sentry")


ACCOUNT_FILES = [
    "my_service/accounts/__init__.py", "my_service/accounts/auth.py",
    "my_service/accounts/templates/sign_in.html", "my_service/static/account.js",
    "migrations/versions/0004_create_users.py",
    "migrations/versions/0005_users_session_version.py",
    "scripts/manage", "tests/accounts/test_auth.py",
]


def test_without_accounts_nothing_of_them_is_rendered(default_project: Path) -> None:
    for path in ACCOUNT_FILES:
        assert not (default_project / path).exists(), path
    # Not a line of them in the package either: no owner column, no comment about them.
    package = default_project / "my_service"
    for path in package.rglob("*.py"):
        text = path.read_text().lower()
        assert "owner" not in text and "account" not in text, path
    pyproject = (default_project / "pyproject.toml").read_text()
    assert "pwdlib" not in pyproject and "itsdangerous" not in pyproject
    assert "SECRET_KEY" not in (default_project / ".env").read_text()
    assert "SECRET_KEY" not in (default_project / "README.md").read_text()


def test_with_accounts_each_project_gets_its_own_strong_secret_key(tmp_path: Path) -> None:
    first = render(tmp_path / "first", auth="users")
    second = render(tmp_path / "second", auth="users")

    keys = []
    for project in (first, second):
        for path in ACCOUNT_FILES:
            assert (project / path).exists(), path
        lines = (project / ".env").read_text().splitlines()
        env = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
        keys.append(env["SECRET_KEY"])
        assert "SECRET_KEY=\n" in (project / ".env.example").read_text()  # no key committed
    assert keys[0] != keys[1] and min(len(key) for key in keys) >= 48


def test_env_example_documents_every_account_setting(tmp_path: Path) -> None:
    project = render(tmp_path, auth="users")
    code = (
        "from my_service.core.settings import Settings; "
        "from my_service.accounts.settings import AuthSettings; "
        "print(*Settings.model_fields, *AuthSettings.model_fields)"
    )
    env = venv_env(build_venv([project]))
    fields = run(["python", "-c", code], cwd=project, env=env).stdout.split()
    example = (project / ".env.example").read_text()

    documented = {
        line.split("=")[0] for line in example.splitlines() if line and not line.startswith("#")
    }
    assert {name.upper() for name in fields} == documented


def layout_tree(text: str, heading: str = "# Layout\n") -> set[str]:
    """The paths a Layout block lists (docs/layout.md's, or the README's short one): folders
    end with "/"."""
    block = text.split(heading, 1)[1].split("```\n", 2)[1]
    listed, parents = set(), []
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip())
        if indent >= 20:  # a description going on from the line above
            continue
        depth = indent // 2
        name = line.split()[0]
        parents[depth:] = [name]
        listed.add("".join(parents))
    return listed


@pytest.mark.parametrize("combination", ["sqlite", "users-sqlite", "mysql", "deploy-all"])
def test_layout_doc_matches_the_files(tmp_path: Path, combination: str) -> None:
    project = render(tmp_path, **COMBINATIONS[combination])
    listed = layout_tree((project / "docs" / "layout.md").read_text())
    package = project / "my_service"
    # Every module and folder of the package, but what the folders of templates and static
    # files hold.
    shown = {
        f"my_service/{path.relative_to(package)}" + ("/" if path.is_dir() else "")
        for path in package.rglob("*")
        if path.name != "__init__.py"
        and "__pycache__" not in path.parts
        and not {"templates", "static"} & set(path.relative_to(package).parts[:-1])
    }
    assert {path for path in listed if path.startswith("my_service/")} == shown | {"my_service/"}
    for path in listed:
        assert (project / path).exists(), path


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_readme_is_short_and_its_links_and_layout_hold(tmp_path: Path, combination: str) -> None:
    """A newcomer's page: at most 150 lines; the rest is in docs/, every file of it linked, and
    every link and every path of its short layout there."""
    project = render(tmp_path, **COMBINATIONS[combination])
    readme = (project / "README.md").read_text()

    assert len(readme.splitlines()) <= 150, len(readme.splitlines())
    linked = set(re.findall(r"\]\((docs/[^)#]+)", readme))
    assert linked == {f"docs/{path.name}" for path in (project / "docs").iterdir()}
    for path in layout_tree(readme, heading="## Layout\n"):
        assert (project / path).exists(), path
    # The docs link each other by file name: every such link names a file that was rendered.
    for doc in (project / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([\w-]+\.md)", doc.read_text()):
            assert (project / "docs" / target).is_file(), f"{doc.name} links {target}"


@pytest.mark.parametrize("combination", ["users-sqlite", "deploy-all"])
def test_no_module_is_over_300_lines(tmp_path: Path, combination: str) -> None:
    project = render(tmp_path, **COMBINATIONS[combination])
    sizes = {
        str(path.relative_to(project)): len(path.read_text().splitlines())
        for path in project.rglob("*.py")
    }
    assert {path: lines for path, lines in sizes.items() if lines > 300} == {}
