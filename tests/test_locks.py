"""The template's one lock (uv.lock at its root, over the pins in its pyproject.toml) is current,
and every render's uv.lock, derived from it offline by the post-generation hook, is current for
that project's pyproject.toml: every combination of the options with dependencies on the lowest
Python offered, and a pairwise selection of them on each later one; `scripts/install` installs
from it."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hooks import pins

from .conftest import require_python
from .harness import ROOT, render, run

TEMPLATE = json.loads((ROOT / "cookiecutter.json").read_text())
PINS = tomllib.loads((ROOT / "pyproject.toml").read_text())
# The options some of whose values have a dependency group of their own.
OPTIONS = [
    option for option, values in TEMPLATE.items()
    if isinstance(values, list)
    and any(pins.normalize(f"{option}-{value}") in PINS["dependency-groups"] for value in values)
]

# Options whose dependencies only add to the others' (instrumentation, an error reporter).
OPERATIONS = ["tracing", "error_reporting"]


def dependency_sets() -> list[dict[str, str]]:
    """Every combination of the data options' values but those the pre-generation hook refuses
    (broadcast=postgres and jobs=postgres need database=postgresql, and a job queue needs a
    broker; tests/test_hooks.py checks that it does), each
    with one combination of the operations options, chosen so that every value of those meets
    every value of the others without multiplying the renders."""
    data = [option for option in OPTIONS if option not in OPERATIONS]
    combinations = [
        dict(zip(data, values, strict=True))
        for values in itertools.product(*(TEMPLATE[option] for option in data))
    ]
    allowed = [
        options for options in combinations
        if not (options["broadcast"] == "postgres" and options["database"] != "postgresql")
        and not (options["jobs"] == "postgres" and options["database"] != "postgresql")
        and not (options["jobs"] != "none" and options["broadcast"] == "memory")
    ]
    # Greedily, the operations values that meet the most value pairs not met yet; ties go to
    # the values used least so far.
    choices = list(itertools.product(*(TEMPLATE[option] for option in OPERATIONS)))
    met: set[tuple[str, str, str, str]] = set()
    used = dict.fromkeys(choices, 0)
    sets = []
    for options in allowed:
        def pairs(choice: tuple[str, ...]) -> set[tuple[str, str, str, str]]:
            return {(*value, *operation) for value in options.items()
                    for operation in zip(OPERATIONS, choice, strict=True)}
        best = max(choices, key=lambda choice: (len(pairs(choice) - met), -used[choice]))
        met |= pairs(best)
        used[best] += 1
        sets.append(options | dict(zip(OPERATIONS, best, strict=True)))
    return sets


def value_pairs(options: dict[str, str]) -> set[tuple[tuple[str, str], ...]]:
    return set(itertools.combinations(sorted(options.items()), 2))


def pairwise(sets: list[dict[str, str]]) -> list[dict[str, str]]:
    """Some of `sets`, chosen greedily, in which every pair of values of two options that one
    of `sets` holds appears at least once."""
    wanted = set().union(*map(value_pairs, sets))
    chosen: list[dict[str, str]] = []
    met: set[tuple[tuple[str, str], ...]] = set()
    while met != wanted:
        best = max(sets, key=lambda options: len(value_pairs(options) - met))
        chosen.append(best)
        met |= value_pairs(best)
    return chosen


def lock_cases() -> list[tuple[dict[str, str], str]]:
    """Every set on the lowest Python offered, whose lock the hook cuts from the template's;
    on each later one, the pairwise sets (the markers the Pythons differ by meet every pair)."""
    lowest, *later = TEMPLATE["python_version"]
    sets = dependency_sets()
    return [(options, lowest) for options in sets] + [
        (options, version) for version in later for options in pairwise(sets)
    ]


def set_name(options: dict[str, str]) -> str:
    return "_".join(f"{option}-{value}" for option, value in options.items())


def uv(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # uv must use the interpreter it is given: downloading one is not possible everywhere.
    return subprocess.run(
        [sys.executable, "-m", "uv", *arguments], cwd=cwd,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        capture_output=True, text=True, timeout=600, check=False,
    )


def test_options_with_dependencies() -> None:
    assert OPTIONS == [
        "database", "broadcast", "lambda", "auth", "tracing", "error_reporting", "jobs",
    ]
    sets = dependency_sets()
    assert len(sets) == 52
    chosen = pairwise(sets)
    assert len(chosen) < len(sets) / 4
    assert set().union(*map(value_pairs, chosen)) == set().union(*map(value_pairs, sets))


def test_template_lock_is_current_for_its_pins() -> None:
    result = uv("lock", "--check", "--offline", "--python", sys.executable, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_locks_are_written_as_uv_writes_them() -> None:
    # The hook writes each render's lock with the same writer: byte for byte uv's format.
    text = (ROOT / "uv.lock").read_text()
    assert pins.dump_lock(tomllib.loads(text)) == text


@pytest.mark.parametrize(
    ("options", "python_version"), lock_cases(),
    ids=[f"{set_name(options)}-{version}" for options, version in lock_cases()],
)
def test_rendered_lock_is_current(
    tmp_path: Path, options: dict[str, str], python_version: str
) -> None:
    python = require_python(python_version)
    project = render(tmp_path, python_version=python_version, version="2.1.0rc1", **options)
    text = (project / "pyproject.toml").read_text()
    assert "{%" not in text and "{#" not in text
    result = uv("lock", "--check", "--offline", "--python", python, cwd=project)
    assert result.returncode == 0, result.stderr
    lock = tomllib.loads((project / "uv.lock").read_text())
    assert lock["requires-python"] == f">={python_version}"
    (own,) = [package for package in lock["package"] if package["source"] == {"editable": "."}]
    assert (own["name"], own["version"]) == ("my-service", "2.1.0rc1")
    # The pins of the options not chosen are neither declared nor locked.
    declared = tomllib.loads(text)["project"]["dependencies"]
    declared_dev = tomllib.loads(text)["dependency-groups"]["dev"]
    locked = {package["name"] for package in lock["package"]}
    chosen, chosen_dev = pins.groups_for(options, PINS), pins.dev_groups_for(options, PINS)
    # Two options may pin one package (the broker's and the queue's Redis client, say): a pin
    # of a group not chosen that a chosen group shares is declared through that group.
    shared = {requirement for group in chosen for requirement in PINS["dependency-groups"][group]}
    for group, requirements in PINS["dependency-groups"].items():
        for requirement in requirements:
            name = pins.normalize(re.split(r"[\[=]", requirement)[0])
            if group not in chosen and requirement in shared:
                continue
            if group in chosen:
                assert requirement in declared and name in locked
            elif group in chosen_dev:
                assert requirement in declared_dev and requirement not in declared
                assert name in locked
            elif group not in ("dev",):
                assert requirement not in declared + declared_dev and name not in locked


def test_lock_check_catches_a_changed_pin(default_project: Path) -> None:
    check = ["lock", "--check", "--offline", "--python", sys.executable]
    shipped = uv(*check, cwd=default_project)
    pyproject = default_project / "pyproject.toml"
    pyproject.write_text(re.sub(r'"starlette==[^"]+"', '"starlette<1"', pyproject.read_text()))
    changed = uv(*check, cwd=default_project)
    # Offline, uv fails on the changed pin either by saying the lock is out of date or by
    # naming a package it would need to download; the shipped lock passes the same check.
    assert shipped.returncode == 0, shipped.stderr
    assert changed.returncode != 0, changed.stderr


def test_install_and_image_bootstrap_the_uv_the_lock_pins(default_project: Path) -> None:
    # They read its version from uv.lock, so a bump of the pin needs no other edit.
    (pinned,) = re.findall(r'"uv==([\d.]+)"', (default_project / "pyproject.toml").read_text())
    for name in ("scripts/install", "Dockerfile"):
        text = (default_project / name).read_text()
        assert not re.search(r"uv==\d", text), name
        (code,) = re.findall(r"-c '(import tomllib[^']+)'", text)
        found = run([sys.executable, "-c", code], cwd=default_project).stdout.strip()
        assert found == pinned, name


@pytest.mark.parametrize("uv_on_path", [False, True], ids=["only-python", "uv-on-path"])
def test_install_gives_exactly_the_locked_environment(
    default_project: Path, uv_on_path: bool
) -> None:
    python = require_python("3.12")  # not the template's own Python: PYTHON must choose
    tools = str(Path(sys.executable).parent)  # holds the template's uv
    path = [
        entry for entry in os.environ["PATH"].split(os.pathsep) if not shutil.which("uv", path=entry)
    ]
    env = {**os.environ, "PYTHON": python, "PATH": os.pathsep.join([tools] * uv_on_path + path)}
    env.pop("VIRTUAL_ENV", None)
    run(["scripts/install"], cwd=default_project, env=env, timeout=600)
    venv = default_project / ".venv" / "bin"
    version = run([str(venv / "python"), "--version"], cwd=default_project).stdout
    assert version.startswith("Python 3.12.")
    result = subprocess.run(
        [str(venv / "uv"), "sync", "--locked", "--check"], cwd=default_project,
        env={**env, "UV_PYTHON_DOWNLOADS": "never"}, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    run([str(venv / "python"), "-c", "import my_service.asgi"], cwd=default_project)
