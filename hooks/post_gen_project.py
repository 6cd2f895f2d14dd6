"""Finish the rendered project: drop the files the chosen options do not use, declare and lock
the chosen dependencies (from the template's own pins and lock), make the scripts executable,
write `.env`, and record the template and commit it came from (`.cruft.json`, for `cruft update`).

Hermetic: no network, no installs. The next steps are printed at the end.
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from cookiecutter.config import BUILTIN_ABBREVIATIONS
from cookiecutter.repository import expand_abbreviations, is_repo_url

DATABASE = "{{ cookiecutter.database }}"
BROADCAST = "{{ cookiecutter.broadcast }}"
AUTH = "{{ cookiecutter.auth }}"
JOBS = "{{ cookiecutter.jobs }}"
PACKAGE = "{{ cookiecutter.package_name }}"
# Every answer, and where the template came from (`_template`, `_repo_dir`, `_checkout`).
CONTEXT = json.loads(r"""{{ cookiecutter | jsonify }}""")

# Option value -> paths (relative to the project) that the choice does not need.
UNUSED: dict[tuple[str, str], list[str]] = {
    # SQLite has no server to lose, so there is no outage to simulate.
    ("database", "sqlite"): ["tests/core/test_outage.py"],
    ("broadcast", "memory"): [
        f"{PACKAGE}/core/broker_redis.py",
        f"{PACKAGE}/core/broker_postgres.py",
        "tests/core/test_broker.py",
        "tests/core/test_tracing_redis.py",
    ],
    ("broadcast", "redis"): [f"{PACKAGE}/core/broker_postgres.py"],
    ("broadcast", "postgres"): [
        f"{PACKAGE}/core/broker_redis.py",
        "tests/core/test_tracing_redis.py",
    ],
    ("process_manager", "none"): ["deploy/systemd"],
    ("kubernetes", "no"): ["deploy/kubernetes"],
    ("lambda", "no"): [f"{PACKAGE}/ops/aws_lambda.py", "tests/ops/test_aws_lambda.py"],
    ("paas", "no"): ["Procfile"],
    # Dependabot's config too: without CI the project is not assumed to live on GitHub.
    ("ci", "none"): [".github"],
    ("auth", "none"): [
        f"{PACKAGE}/accounts",
        "tests/accounts",
        f"{PACKAGE}/static/account.js",
        "migrations/versions/0004_create_users.py",
        "migrations/versions/0005_users_session_version.py",
        "migrations/versions/0007_accounts_exact_and_owned_keys.py",
        "migrations/versions/0008_create_spent_tickets.py",
        "migrations/versions/0009_tokens_last_used.py",
        "migrations/versions/0010_create_email_links.py",
        "scripts/manage",
        "scripts/mail",
        "docs/accounts.md",
    ],
    ("tracing", "none"): [
        f"{PACKAGE}/core/tracing_otel.py",
        "tests/core/test_tracing.py",
        "tests/core/test_tracing_redis.py",
    ],
    ("jobs", "none"): [
        f"{PACKAGE}/core/jobs_saq.py",
        f"{PACKAGE}/core/jobs_redis.py",
        f"{PACKAGE}/ops/worker.py",
        f"{PACKAGE}/ops/worker_metrics.py",
        "scripts/worker",
        "tests/ops/test_worker.py",
        "tests/ops/test_worker_loops.py",
        "tests/ops/worker_jobs.py",
        "tests/ops/workers.py",
        "tests/core/test_jobs_redis.py",
        f"deploy/systemd/{CONTEXT['project_slug']}-worker.service",
        "deploy/kubernetes/base/worker.yaml",
        "deploy/prometheus/alerts-jobs.yaml",
        "deploy/prometheus/alerts-jobs-test.yaml",
        "deploy/grafana/jobs.json",
    ],
    ("jobs", "postgres"): [f"{PACKAGE}/core/jobs_redis.py", "tests/core/test_jobs_redis.py"],
    ("error_reporting", "none"): [
        f"{PACKAGE}/core/reporting_sentry.py",
        "tests/core/test_reporting.py",
    ],
}
# Option value -> files the choice replaces: {file: its replacement, kept among the option's
# own files}. With accounts, rows belong to users, and the features include accounts.
REPLACED: dict[tuple[str, str], dict[str, str]] = {
    ("auth", "users"): {
        f"{PACKAGE}/web/scoping.py": f"{PACKAGE}/accounts/scoping.py",
        f"{PACKAGE}/features.py": f"{PACKAGE}/accounts/features.py",
        "tests/callers.py": "tests/accounts/callers.py",
    },
    # The same names as the module without traces, which app.py, logs.py and database.py call.
    ("tracing", "opentelemetry"): {f"{PACKAGE}/core/tracing.py": f"{PACKAGE}/core/tracing_otel.py"},
    ("error_reporting", "sentry"): {
        f"{PACKAGE}/core/reporting.py": f"{PACKAGE}/core/reporting_sentry.py",
    },
}

# Local defaults for each database and broker; the template's README says how to point them
# elsewhere.
DATABASE_URLS = {
    "sqlite": f"sqlite+aiosqlite:///./{PACKAGE}.db",
    "postgresql": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PACKAGE}",
    "mysql": f"mysql+aiomysql://root@127.0.0.1:3306/{PACKAGE}",
}
JOBS_URLS = {
    "none": "memory://",
    "redis": "redis://127.0.0.1:6379/1",  # beside the broker's database 0
    "postgres": f"postgresql://postgres@127.0.0.1:5432/{PACKAGE}",  # the app's own database
}
BROADCAST_URLS = {
    "memory": "memory://",
    "redis": "redis://127.0.0.1:6379/0",
    "postgres": f"postgresql://postgres@127.0.0.1:5432/{PACKAGE}",  # the app's own database
}


def apply_choices(options: dict[str, str]) -> None:
    for option, value in options.items():
        for relative, replacement in REPLACED.get((option, value), {}).items():
            Path(replacement).replace(relative)
        for relative in UNUSED.get((option, value), []):
            path = Path(relative)
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            # A folder left empty (deploy/ when no target is chosen) goes too.
            if path.parent != Path() and path.parent.is_dir() and not any(path.parent.iterdir()):
                path.parent.rmdir()


def make_scripts_executable() -> None:
    # A template unpacked from a zip (GitHub's archives included) loses the execute bits.
    for path in Path("scripts").iterdir():
        if path.read_bytes().startswith(b"#!"):
            path.chmod(path.stat().st_mode | 0o111)


def template_repository() -> Path:
    """This template's folder; cookiecutter passes it relative to where it was started."""
    given = Path(CONTEXT.get("_repo_dir", "."))  # cruft renders without it, from the folder
    if given.is_absolute():
        return given
    # cookiecutter runs this hook from inside the template's folder (this process's cwd is the
    # new project's): its own working directory is the answer, where the system shows it.
    parent = Path(f"/proc/{os.getppid()}/cwd")
    if parent.exists():
        return parent.resolve()
    return Path(os.environ.get("PWD", ".")) / given  # the shell's directory when it started


def set_values(text: str, values: dict[tuple[str, str], str]) -> str:
    """`text` with the one-line array `key = [...]` of each table replaced by the TOML given.

    The lines are written from the lists they hold, and the result is parsed again: it must
    differ from the template's in exactly those values.
    """
    table, lines, done = "", [], set()
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            table = line.strip().strip("[]")
        key = line.partition(" = ")[0]
        if (table, key) in values and line.rstrip().endswith("]"):
            line = f"{key} = {values[table, key]}\n"
            done.add((table, key))
        lines.append(line)
    if done != set(values):
        raise SystemExit(f"ERROR: pyproject.toml has no one-line {sorted(set(values) - done)}.")
    written = "".join(lines)
    expected = tomllib.loads(text)
    for (table, key), value in values.items():
        parent = expected
        for part in table.split("."):
            parent = parent[part]
        parent[key] = tomllib.loads(f"v = {value}")["v"]
    if tomllib.loads(written) != expected:
        raise SystemExit("ERROR: writing the dependencies changed more of pyproject.toml than them.")
    return written


def write_dependencies() -> None:
    """Declare the chosen options' pinned dependencies and lock them, from the template's own.

    The template repository is a uv project whose dependency groups are the options (see
    hooks/pins.py); this takes their pins into pyproject.toml and cuts uv.lock from its lock.
    """
    repository = template_repository()
    sys.path.insert(0, str(repository / "hooks"))
    import pins  # noqa: PLC0415  (beside this hook in the template, not installed anywhere)

    template_pins = tomllib.loads((repository / "pyproject.toml").read_text())
    deps = pins.dependencies(CONTEXT, template_pins)
    pyproject = Path("pyproject.toml")
    text = set_values(pyproject.read_text(), {
        ("project", "dependencies"): pins.toml_array(deps.project),
        ("dependency-groups", "dev"): pins.toml_array(deps.dev),
        ("build-system", "requires"): pins.toml_array(deps.build, multiline=False),
    })
    pyproject.write_text(text)
    project = tomllib.loads(text)["project"]
    lock = pins.derive_lock(
        tomllib.loads((repository / "uv.lock").read_text()), deps,
        name=project["name"], version=project["version"],
        requires_python=project["requires-python"],
    )
    Path("uv.lock").write_text(pins.dump_lock(lock))


def write_env() -> None:
    example = Path(".env.example").read_text()
    lines = []
    for line in example.splitlines():
        if line.startswith("DATABASE_URL="):
            line = f"DATABASE_URL={DATABASE_URLS[DATABASE]}"
        elif line.startswith("BROADCAST_URL="):
            line = f"BROADCAST_URL={BROADCAST_URLS[BROADCAST]}"
        elif line.startswith("JOBS_URL="):
            line = f"JOBS_URL={JOBS_URLS[JOBS]}"
        elif line.startswith("DEBUG="):
            line = "DEBUG=true"
        elif line.startswith("SECRET_KEY="):  # with user accounts: this project's own
            line = f"SECRET_KEY={secrets.token_urlsafe(48)}"
        lines.append(line)
    env = Path(".env")
    env.write_text("\n".join(lines) + "\n")
    env.chmod(0o600)


def record_template() -> bool:
    """Write `.cruft.json` as `cruft create` would, so `cruft update` can bring template changes.

    Needs the template's git commit: a template fetched as an archive has none (then
    `cruft link` records it later).
    """
    if "_repo_dir" not in CONTEXT:  # rendered by cruft itself, which records its own state
        return True
    repo = template_repository()
    if not (repo / ".git").exists():
        return False
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        return False
    template = expand_abbreviations(CONTEXT["_template"], BUILTIN_ABBREVIATIONS)
    if not is_repo_url(template):  # a local checkout: name it so it can be found from anywhere
        template = str(repo.resolve())
    # cookiecutter wants "git+file://..." for a local repository by URL; git (so cruft) takes
    # the URL without the "git+".
    template = template.removeprefix("git+")
    commit = head.stdout.strip()
    answers = {key: value for key, value in CONTEXT.items() if not key.startswith("_")}
    state = {
        "template": template,
        "commit": commit,
        "checkout": CONTEXT.get("_checkout"),
        "context": {"cookiecutter": {**answers, "_template": template, "_commit": commit}},
        "directory": None,
        # Each render writes a fresh SECRET_KEY into .env: an update must leave the project's own.
        "skip": [".env"],
    }
    Path(".cruft.json").write_text(json.dumps(state, indent=2) + "\n")
    return True


def scratch_copy() -> bool:
    """Whether this is one of the two copies `cruft update` renders (the project as the old
    and as the new template would make it) into temporary folders, to diff them."""
    temporary = Path(tempfile.gettempdir()).resolve()
    return "_repo_dir" not in CONTEXT and Path.cwd().resolve().is_relative_to(temporary)


def tell_next_steps(recorded: bool) -> None:
    if not recorded:
        print("The template has no git commit here; `cruft link TEMPLATE` records it for updates.")
    # A server database must exist before it is migrated; SQLite creates its file.
    createdb = "" if DATABASE == "sqlite" else "scripts/createdb && "
    # With accounts, nobody can sign in until the first account exists.
    first_user = "scripts/manage createuser you@example.com && " if AUTH == "users" else ""
    print(
        f"Rendered {Path.cwd().name}. Next:\n"
        f"  cd {Path.cwd().name}\n"
        f"  scripts/install && {createdb}scripts/migrate upgrade head && {first_user}scripts/run"
    )


if __name__ == "__main__":
    apply_choices({option: CONTEXT[option] for option, _ in [*UNUSED, *REPLACED]})
    make_scripts_executable()
    write_dependencies()
    write_env()
    if not scratch_copy():  # those are nobody's project: nothing to record or tell
        tell_next_steps(recorded=record_template())
