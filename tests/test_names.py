"""Names that people give their projects render projects that pass their own checks and tests.

The name lands in the README, the page titles, the OpenAPI document and the systemd unit; the
slug and package name come from it by the pre-generation hook's rules. All on SQLite, in one
shared environment (the name changes no dependency).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from .harness import render, run

# Name, then the folder and package the hook's rules give it. Three projects cover them all:
# an apostrophe and an ampersand; more double quotes than single ones (the OpenAPI title's
# literal switches quotes, as ruff's formatter wants); a leading digit and two other scripts.
NAMES = [
    ("Ada's Fish & Chips", "adas-fish-chips", "adas_fish_chips"),
    ('Say "Hi" to Ada\'s', "say-hi-to-adas", "say_hi_to_adas"),
    ("3D Заметки 笔记", "3d-zametki-bi-ji", "app_3d_zametki_bi_ji"),
]


@pytest.mark.parametrize(("name", "slug", "package"), NAMES, ids=[slug for _, slug, _ in NAMES])
def test_a_project_named_so_passes_its_own_checks_and_tests(
    tmp_path: Path, project_env: dict[str, str], name: str, slug: str, package: str
) -> None:
    project = render(tmp_path, project_name=name)

    assert (project.name, (project / package).is_dir()) == (slug, True)
    assert (project / "README.md").read_text().splitlines()[0] == f"# {name}"
    assert tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"] == slug
    (openapi,) = [
        path for path in (project / package).rglob("*.py") if "\nTITLE = " in path.read_text()
    ]
    title = openapi.read_text().partition("\nTITLE = ")[2].splitlines()[0]
    assert ast.literal_eval(title) == name
    # Its own tests compare the page titles and the OpenAPI document's title with TITLE.
    assert "Success: no issues found" in run(["scripts/check"], cwd=project, env=project_env).stdout
    command = ["scripts/test", "-q", "-p", "no:cacheprovider"]
    result = run(command, cwd=project, env=project_env, timeout=600)
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
