"""Log lines of a project served by its own scripts/start, as production and development see them."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2 as httpx
import pytest

from .conftest import BANNERS, serve, stop

# A database that cannot open, so that a readiness probe has something to log.
UNREACHABLE = {"DATABASE_URL": "sqlite+aiosqlite:///./missing/folder/app.db"}


def probe_and_stop(project: Path, env: dict[str, str], server: str, debug: str) -> tuple[httpx.Response, str]:
    served = serve(project, env, server, 1, DEBUG=debug, SHUTDOWN_DRAIN_SECONDS="0", **UNREACHABLE)
    try:
        ready = httpx.get(f"{served.url}/health/ready", headers={"X-Request-ID": "probe-1"}, timeout=10)
        httpx.post(f"{served.url}/api/notes", json={"title": "body-text-never-logged"}, timeout=10)
    finally:
        output = stop(served.process)
    return ready, output


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_production_logs_are_json_lines_with_the_request_id(
    default_project: Path, project_env: dict[str, str], server: str
) -> None:
    ready, output = probe_and_stop(default_project, project_env, server, debug="false")

    assert ready.status_code == 503 and ready.headers["x-request-id"] == "probe-1"
    assert "Errno" not in ready.text and "sqlite" not in ready.text
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]  # every line
    assert any(BANNERS[server] in line["event"] for line in lines), output
    probe = [line for line in lines if line.get("request_id") == "probe-1"]
    assert [(line["level"], line["logger"]) for line in probe] == [("warning", "my_service.web.health")]
    assert "unable to open database file" in probe[0]["event"]
    assert "body-text-never-logged" not in output
    assert "Traceback" not in output


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_development_logs_are_readable_lines_with_the_request_id(
    default_project: Path, project_env: dict[str, str], server: str
) -> None:
    _, output = probe_and_stop(default_project, project_env, server, debug="true")

    line = next(line for line in output.splitlines() if "request_id=probe-1" in line)
    assert "Not ready" in line and "warning" in line and not line.startswith("{")
    assert BANNERS[server] in output
