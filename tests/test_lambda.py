"""The AWS Lambda zip: built from uv.lock with the rendered docs/deploy.md's own commands, without the
servers, and its handler answering API Gateway events from the unzipped bundle alone.

The cold start is measured, not asserted, by benchmarks/lambda_cold.py.
"""

from __future__ import annotations

import base64
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from .conftest import own_servers, unavailable
from .harness import COMBINATIONS, SERVERS, build_venv, render, run, venv_env
from .lambda_bundle import build, probe

# Lambda's limit on a zip uploaded directly.
LIMIT = 50 * 1024 * 1024
# What a function never runs: the servers and what only they pull in, and the migrations' own.
NEVER = {
    "granian", "uvicorn", "uvloop", "httptools", "watchfiles", "websockets", "alembic", "mako",
    "greenlet",
}
# Bundled, but not imported with the handler: only a RATE_LIMIT_WRITES set needs it.
LAZY = {"limits"}


def body(response: dict[str, object]) -> object:
    text = str(response["body"])
    return json.loads(base64.b64decode(text) if response["isBase64Encoded"] else text)


# MySQL's is the suite's combination with Lambda (and Redis), so it shares that environment.
CONTEXTS = {
    "sqlite": {"database": "sqlite", "lambda": "yes"},
    "postgresql": {"database": "postgresql", "lambda": "yes"},
    "mysql": COMBINATIONS["mysql"],
}


@pytest.mark.parametrize("database", sorted(CONTEXTS))
def test_readme_builds_a_bundle_whose_handler_serves_events(tmp_path: Path, database: str) -> None:
    if shutil.which("zip") is None:
        unavailable("zip is not installed (docs/deploy.md's build uses it)")
    context = CONTEXTS[database]
    path = render(tmp_path / "render", **context)
    with own_servers(path, venv_env(build_venv([path])), context) as project:
        env = dict(project.env)
        if database not in SERVERS:  # SQLite: a file both the migration and the probe find
            env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'lambda.db'}"
        run(["scripts/migrate", "upgrade", "head"], cwd=project.path, env=env)

        archive, bundle = build(project.path, env, tmp_path)
        size = archive.stat().st_size
        print(f"lambda.zip ({database}): {size / 1e6:.1f} MB")
        assert size < LIMIT / 2, f"{size} bytes"
        with zipfile.ZipFile(archive) as opened:
            names = opened.namelist()
        top = {name.split("/")[0].split("-")[0] for name in names}
        assert {"my_service", "mangum", "sqlalchemy", "starlette"} <= top
        assert not top & NEVER, sorted(top & NEVER)
        # What /docs loads stays (docs/deploy.md drops only Swagger UI's editor and source maps).
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
            assert f"swagger_ui/static/{asset}" in names
        assert not [name for name in names if name.endswith(".map")]
        # Compiled ahead: a function cannot write bytecode, so without it each cold start
        # compiles the bundle again.
        assert any(name.startswith("my_service/ops/__pycache__/aws_lambda.") for name in names)

        answered = probe(bundle, "my_service", env["DATABASE_URL"])

    assert answered["path"][0] == str(bundle)
    assert not [entry for entry in answered["path"] if "-packages" in entry], answered["path"]
    loaded = set(answered["modules"])  # by the import, before the first event
    assert not loaded & (NEVER | LAZY), sorted(loaded & (NEVER | LAZY))
    assert "sqlalchemy" in loaded
    created, read = answered["created"], answered["read"]
    assert created["statusCode"] == 201, created
    note = body(created)
    assert note["title"] == "From Lambda"
    assert read["statusCode"] == 200, read
    assert body(read) == note
