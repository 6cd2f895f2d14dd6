"""Every rendered project ships the uv lock of its own dependency set, current for its
pyproject.toml on each supported Python, and `scripts/install` installs from it."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .harness import render, run
from .locks import TEMPLATE, dependency_sets, lock_name, uv


def interpreter(version: str) -> str:
    """A Python of this minor version (pyenv's included), or skip."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    candidates = [
        shutil.which(f"python{version}"),
        *sorted(glob.glob(str(Path.home() / f".pyenv/versions/{version}.*/bin/python{version}"))),
    ]
    for candidate in filter(None, candidates):
        # pyenv's shims exist for versions that are installed but not selected, and fail.
        if subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    pytest.skip(f"no Python {version} here to check its lock with")


@pytest.mark.parametrize("python_version", TEMPLATE["python_version"])
@pytest.mark.parametrize("options", dependency_sets(), ids=lock_name)
def test_shipped_lock_is_current(
    tmp_path: Path, options: dict[str, str], python_version: str
) -> None:
    python = interpreter(python_version)
    project = render(tmp_path, python_version=python_version, version="2.1.0rc1", **options)
    assert not (project / "locks").exists()
    result = uv("lock", "--check", "--offline", "--python", python, cwd=project)
    assert result.returncode == 0, result.stderr
    lock = tomllib.loads((project / "uv.lock").read_text())
    assert lock["requires-python"] == f">={python_version}"
    (own,) = [package for package in lock["package"] if package["source"] == {"editable": "."}]
    assert (own["name"], own["version"]) == ("my-service", "2.1.0rc1")


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


def test_install_bootstraps_the_same_uv_the_lock_pins(default_project: Path) -> None:
    pinned = re.findall(r'"uv==([\d.]+)"', (default_project / "pyproject.toml").read_text())
    bootstrapped = re.findall(r"uv==([\d.]+)", (default_project / "scripts/install").read_text())
    assert pinned and bootstrapped == pinned


@pytest.mark.parametrize("uv_on_path", [False, True], ids=["only-python", "uv-on-path"])
def test_install_gives_exactly_the_locked_environment(
    default_project: Path, uv_on_path: bool
) -> None:
    python = interpreter("3.12")  # not the template's own Python: PYTHON must choose
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
