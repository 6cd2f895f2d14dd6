"""Fuzz the served app from its own OpenAPI document with schemathesis: no 5xx, no answer
the document does not describe, invalid input refused and valid input accepted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Project, serving
from .harness import ROOT, run

# Enough cases to cover every operation and its stateful links, in well under two minutes.
EXAMPLES_PER_OPERATION = 25


# With accounts: a user and a token, made with the project's own code. The token's id is far
# from the ids the fuzzer tries first (1, the largest), so its DELETE calls do not revoke it.
MAKE_TOKEN = """
import asyncio
from my_service.accounts import tables, users
from my_service.core.database import Database
from my_service.core.settings import load

async def main():
    db = Database(load().database_url)
    user_id = await users.create_user(db, "fuzz@example.com", "not used")
    token = users.TOKEN_PREFIX + "fuzz-" + "x" * 40
    new = tables.tokens.insert().values(
        id=987654321, user_id=user_id, name="fuzz", digest=users.digest(token)
    )
    await db.execute(new)
    await db.disconnect()
    print(token)

asyncio.run(main())
"""


@pytest.mark.parametrize("project", ["sqlite", "postgresql", "users-sqlite"], indirect=True)
def test_schemathesis_finds_nothing(project: Project, tmp_path: Path) -> None:
    run(["scripts/migrate", "upgrade", "head"], cwd=project.path, env=project.env)
    report = tmp_path / "schemathesis.json"
    accounts = (project.path / "my_service" / "accounts").is_dir()
    headers = []
    if accounts:
        token = run(["python", "-c", MAKE_TOKEN], cwd=project.path, env=project.env).stdout
        headers = ["--header", f"Authorization: Bearer {token.strip()}"]
    with serving(project.path, project.env) as served:
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run", f"{served.url}/openapi.json",
                "--checks", "all", "--workers", "1", "--max-examples", str(EXAMPLES_PER_OPERATION),
                "--seed", "1", "--generation-database", "none", "--no-color",
                "--report", "json", "--report-json-path", str(report), *headers,
            ],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
            env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", "PYTHONPATH": str(ROOT)},
        )
    summary = json.loads(report.read_text())

    print(f"schemathesis ran {summary['test_cases']['generated']} cases")
    assert result.returncode == 0, result.stdout[-5000:]
    # The notes' five operations, the exports' three and the two health checks; with accounts
    # also the tokens' three and the socket token's.
    assert summary["operations"]["tested"] == (14 if accounts else 10)
    assert summary["test_cases"]["generated"] >= 300
    assert summary["test_cases"]["with_failures"] == summary["test_cases"]["errored"] == 0
