"""The top-level modules of every distribution the template's lock names.

A rendered project imports, through its dependencies, whatever its lock installs, so a package
named after any of these modules would shadow one of them. `scripts/modules` installs each
locked distribution at its locked version (without dependencies: the locks name them all) into
a scratch folder, reads what each put at the top level from its RECORD, and writes the list to
hooks/locked_modules.json, which the pre-generation hook reads. Run it after `scripts/lock`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable
from importlib.metadata import Distribution, distributions
from pathlib import Path

from .harness import ROOT

LISTING = ROOT / "hooks" / "locked_modules.json"
INDEX = "https://pypi.org/simple"
OFFERED = json.loads((ROOT / "cookiecutter.json").read_text())["python_version"]
NEWEST = max(OFFERED, key=lambda version: tuple(map(int, version.split("."))))
# What Python loads from a single file at the top of site-packages.
MODULE_SUFFIXES = (".py", ".so", ".pyd")


def stored_locks() -> list[Path]:
    """The uv lock the template stores, every render's cut from it (hooks/pins.py)."""
    return [ROOT / "uv.lock"]


def locked_distributions() -> set[str]:
    """`name==version` of every distribution from the index in the template's lock (so not
    the project itself)."""
    found = set()
    for path in stored_locks():
        for package in tomllib.loads(path.read_text())["package"]:
            if "registry" in package["source"]:
                found.add(f"{package['name']}=={package['version']}")
    return found


def top_level(distribution: Distribution) -> list[str]:
    """The importable names a distribution installs at the top level: single-file modules
    (compiled ones included) and folders holding Python code (packages, namespace packages)."""
    names = set()
    for file in distribution.files or ():
        first = file.parts[0]
        if first in ("..", "__pycache__") or not file.name.endswith(MODULE_SUFFIXES):
            continue  # console scripts (bin/ under --target), byte code, data, .pth files
        if len(file.parts) == 1:  # "_cffi_backend.cpython-313-x86_64-linux-gnu.so"
            first = first.partition(".")[0]
        if first.isidentifier():  # not "pydantic-2.14.4.dist-info"
            names.add(first)
    return sorted(names)


def installed(folder: Path) -> dict[str, list[str]]:
    """`name==version` -> top-level modules, for every distribution installed in `folder`."""
    return {
        f"{re.sub(r'[-_.]+', '-', dist.metadata['Name']).lower()}=={dist.version}": top_level(dist)
        for dist in distributions(path=[str(folder)])
    }


def rounds(requirements: Iterable[str]) -> list[list[str]]:
    """Groups in which each distribution appears once (the locks may pin two versions of one)."""
    groups: list[list[str]] = []
    for requirement in sorted(requirements):
        name = requirement.partition("==")[0]
        group = next((g for g in groups if all(r.partition("==")[0] != name for r in g)), None)
        if group is None:
            groups.append(group := [])
        group.append(requirement)
    return groups


def main() -> None:
    listing: dict[str, list[str]] = {}
    for group in rounds(locked_distributions()):
        with tempfile.TemporaryDirectory() as target:
            command = [
                sys.executable, "-m", "uv", "pip", "install", "--quiet", "--no-deps",
                "--default-index", INDEX, "--python", sys.executable, "--target", target,
                # The newest Python the template offers: some distributions need no older.
                "--python-version", NEWEST, *group,
            ]
            result = subprocess.run(
                command, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
                capture_output=True, text=True, timeout=900, check=False,
            )
            if result.returncode != 0:
                raise SystemExit(f"uv pip install failed:\n{result.stderr}")
            listing.update(installed(Path(target)))
    missing = locked_distributions() - listing.keys()
    if missing:
        raise SystemExit(f"installed, but not found under their locked names: {sorted(missing)}")
    lines = [f"  {json.dumps(name)}: {json.dumps(found)}" for name, found in sorted(listing.items())]
    LISTING.write_text("{\n" + ",\n".join(lines) + "\n}\n")  # one line per distribution
    print(f"{LISTING.relative_to(ROOT)}: {len(listing)} distributions")


if __name__ == "__main__":
    main()
