"""A rendered project's Lambda zip, built with its docs/deploy.md's own commands, and its handler run
from the unzipped bundle in an interpreter that sees only the bundle and the standard library.

Used by tests/test_lambda.py and benchmarks/lambda_cold.py.
"""

from __future__ import annotations

import json
import re
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .harness import run

PROBE = Path(__file__).with_name("lambda_probe.py")
HOST = "abc123.execute-api.eu-west-1.amazonaws.com"  # the probe's API Gateway domain


def build_commands(deploy: str) -> str:
    """docs/deploy.md's first shell block under "AWS Lambda": the one that builds lambda.zip."""
    section = deploy[deploy.index("\n## AWS Lambda\n") :]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None and "lambda.zip" in found.group(1), "no build block in docs/deploy.md"
    return found.group(1)


def build(project: Path, env: Mapping[str, str], folder: Path) -> tuple[Path, Path]:
    """Run docs/deploy.md's build block in `project`; return the zip and where it was unzipped."""
    commands = build_commands((project / "docs" / "deploy.md").read_text())
    run(["sh", "-ec", commands], cwd=project, env=env, timeout=600)
    archive = project / "lambda.zip"
    bundle = folder / "bundle"
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(bundle)
    return archive, bundle


def probe(
    bundle: Path, package: str, database_url: str, python: str = sys.executable,
    flags: Sequence[str] = (),
) -> dict[str, Any]:
    """Import the handler from `bundle` in a fresh `python -I -S` (and `flags`) and send it
    two events."""
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url, "ALLOWED_HOSTS": HOST}
    # From the bundle's parent: no .env or project folder where the process starts.
    command = [python, "-I", "-S", *flags, str(PROBE), str(bundle), package]
    done = run(command, cwd=bundle.parent, env=env)
    result: dict[str, Any] = json.loads(done.stdout)
    return result
