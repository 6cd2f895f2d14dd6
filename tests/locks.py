"""The template's stored uv locks: one per dependency set, kept by the post-generation hook.

The options that change the dependency set are listed once, in cookiecutter.json's
`_lock_options`. `scripts/lock` renders one project per combination of their values, locks it
with uv against PyPI, and stores the lock with the values that vary by answer (the project's
name, version and lowest Python) turned back into template variables.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from cookiecutter.main import cookiecutter

from .harness import ROOT

TEMPLATE = json.loads((ROOT / "cookiecutter.json").read_text())
LOCK_OPTIONS: list[str] = TEMPLATE["_lock_options"]
STORE = ROOT / "{{cookiecutter.project_slug}}" / "locks"
INDEX = "https://pypi.org/simple"
# uv must use the interpreter it is given: downloading one is not possible everywhere.
UV_ENV = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}


def dependency_sets() -> list[dict[str, str]]:
    """Every combination of the values of the options that change the dependencies, but those
    the pre-generation hook refuses (broadcast=postgres needs database=postgresql)."""
    choices = [TEMPLATE[option] for option in LOCK_OPTIONS]
    combinations = [
        dict(zip(LOCK_OPTIONS, values, strict=True)) for values in itertools.product(*choices)
    ]
    return [
        options for options in combinations
        if not (options.get("broadcast") == "postgres" and options["database"] != "postgresql")
    ]


def lock_name(options: dict[str, str]) -> str:
    """The stored lock's file name; hooks/post_gen_project.py builds the same."""
    return "_".join(f"{option}-{options[option]}" for option in LOCK_OPTIONS) + ".lock"


def uv(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uv", *arguments], cwd=cwd, env=UV_ENV,
        capture_output=True, text=True, timeout=600, check=False,
    )


def templated(lock: str, pyproject: dict[str, dict[str, str]]) -> str:
    """`lock` with the rendered project's name, version and Python floor as placeholders, which
    hooks/post_gen_project.py fills in (the locks are copied, not rendered: they are large)."""
    project = pyproject["project"]
    replacements = {
        f'\nrequires-python = "{project["requires-python"]}"\n':
            '\nrequires-python = ">=@@python_version@@"\n',
        f'\nname = "{project["name"]}"\nversion = "{project["version"]}"\n':
            '\nname = "@@name@@"\nversion = "@@version@@"\n',
    }
    for rendered, variable in replacements.items():
        if lock.count(rendered) != 1:
            raise SystemExit(f"expected {rendered.strip()!r} once in the lock uv wrote")
        lock = lock.replace(rendered, variable)
    return lock


def write_lock(options: dict[str, str], workdir: Path) -> Path:
    """Resolve the dependency set `options` selects and store its lock in the template."""
    # Without hooks: the post-generation hook needs the stored lock this is about to make.
    project = Path(cookiecutter(
        str(ROOT), no_input=True, extra_context=options, output_dir=str(workdir),
        accept_hooks=False,
    ))
    result = uv("lock", "--default-index", INDEX, "--python", sys.executable, cwd=project)
    if result.returncode != 0:
        raise SystemExit(f"uv lock failed for {options}:\n{result.stderr}")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    stored = STORE / lock_name(options)
    stored.write_text(templated((project / "uv.lock").read_text(), pyproject))
    return stored


def main() -> None:
    STORE.mkdir(exist_ok=True)
    wanted = {lock_name(options) for options in dependency_sets()}
    for stale in STORE.glob("*.lock"):
        if stale.name not in wanted:
            stale.unlink()
    for options in dependency_sets():
        with tempfile.TemporaryDirectory() as workdir:
            stored = write_lock(options, Path(workdir))
        print(f"{stored.relative_to(ROOT)}: {stored.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
