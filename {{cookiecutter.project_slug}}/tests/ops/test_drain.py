from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.core.settings import Settings
from {{ cookiecutter.package_name }}.ops.drain import Drain, stop_file


@pytest.fixture
def drain_file(tmp_path: Path) -> Path:
    return tmp_path / "draining"


@pytest.fixture
def settings(database_url: str, drain_file: Path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        allowed_hosts=("testserver",),
        shutdown_drain_file=str(drain_file),
    )


def test_serves_and_keeps_connections_before_the_drain(client: TestClient, app: Starlette) -> None:
    ready = client.get(app.url_path_for("health_ready"))
    notes = client.get(app.url_path_for("notes"))

    assert ready.status_code == 200
    assert "connection" not in notes.headers


def test_draining_fails_readiness_and_closes_connections_but_still_serves(
    client: TestClient, app: Starlette, drain_file: Path
) -> None:
    drain_file.touch()
    deadline = time.monotonic() + 5
    while client.get(app.url_path_for("health_live")).headers.get("connection") != "close":
        assert time.monotonic() < deadline, "the drain did not start"
        time.sleep(0.02)

    ready = client.get(app.url_path_for("health_ready"))
    created = client.post(app.url_path_for("notes"), json={"title": "during the drain"})

    assert ready.status_code == 503
    assert ready.json()["detail"] == "The server is shutting down."
    assert ready.headers["connection"] == "close"
    assert created.status_code == 201
    assert created.headers["connection"] == "close"
    assert client.get(created.headers["location"]).json() == created.json()


async def watch_both(drain: Drain, drain_file: Path) -> list[tuple[bool, bool]]:
    drain.start()
    seen = [(drain.started.is_set(), drain.stopping.is_set())]
    await asyncio.to_thread(drain_file.touch)
    await asyncio.wait_for(drain.started.wait(), timeout=5)
    seen.append((drain.started.is_set(), drain.stopping.is_set()))
    await asyncio.to_thread(stop_file(drain_file).touch)
    await asyncio.wait_for(drain.stopping.wait(), timeout=5)
    seen.append((drain.started.is_set(), drain.stopping.is_set()))
    await drain.stop()
    return seen


def test_the_drain_starts_then_announces_the_stop(drain_file: Path) -> None:
    seen = asyncio.run(watch_both(Drain(str(drain_file)), drain_file))

    assert seen == [(False, False), (True, False), (True, True)]
