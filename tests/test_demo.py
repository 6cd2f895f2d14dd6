"""The README's first command: render the default project, install, migrate and serve it."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx2 as httpx

from .harness import ROOT
from .conftest import free_port, stop, wait_until_up


def test_demo_serves_the_default_project() -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "PYTHON": sys.executable}
    demo = subprocess.Popen(
        ["scripts/demo"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/health/ready", demo, seconds=600)
        created = httpx.post(f"{base}/api/notes", json={"title": "Demo"}, timeout=5)
        assert created.status_code == 201
        assert httpx.get(f"{base}/api/notes", timeout=5).json()["total"] >= 1
        assert httpx.get(f"{base}/openapi.json", timeout=5).json()["openapi"].startswith("3.")
    finally:
        stop(demo)
