"""The README's first command: render the default project, install, migrate and serve it;
run again, it reuses the render, the environment and the data of the first run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import httpx2 as httpx

from .conftest import BANNERS, DEFAULT_SERVER, free_port, stop, wait_until_up
from .harness import ROOT


def serve_demo(use: Callable[[str], None]) -> str:
    """Run scripts/demo until it serves, `use` its base URL, stop it; return its output."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "PYTHON": sys.executable}
    demo = subprocess.Popen(
        ["scripts/demo"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/health/ready", demo, seconds=600)
        use(base)
    finally:
        output = stop(demo)
    return output


def test_demo_serves_then_reuses_its_render_environment_and_data() -> None:
    created: list[str] = []

    def create(base: str) -> None:
        response = httpx.post(f"{base}/api/notes", json={"title": "Kept by the demo"}, timeout=5)
        assert response.status_code == 201
        created.append(httpx.URL(response.headers["location"]).path)  # the next run's port differs
        assert httpx.get(f"{base}/openapi.json", timeout=5).json()["openapi"].startswith("3.")

    def read_back(base: str) -> None:
        note = httpx.get(f"{base}{created[0]}", timeout=5)
        assert note.status_code == 200
        assert note.json()["title"] == "Kept by the demo"

    first = serve_demo(create)
    second = serve_demo(read_back)

    assert "Serving on http://" in first
    assert BANNERS[DEFAULT_SERVER] in first  # scripts/start's own default, the bounded server
    assert "Next:" not in first + second  # the render's hint is for people rendering by hand
    assert "Rendering" not in second and "Installing" not in second, second
