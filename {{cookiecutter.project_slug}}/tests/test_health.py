from __future__ import annotations

import threading

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.settings import Settings


def test_live_answers_without_touching_the_database(client: TestClient, app: Starlette) -> None:
    response = client.get(app.url_path_for("health_live"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_the_database_answers(client: TestClient, app: Starlette) -> None:
    response = client.get(app.url_path_for("health_ready"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "memory"}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_not_ready_when_the_database_is_unreachable(unreachable_database_url: str) -> None:
    settings = Settings(
        _env_file=None,
        database_url=unreachable_database_url,
        allowed_hosts=("testserver",),
    )
    app = create_app(settings)

    with TestClient(app) as client:
        response = client.get(app.url_path_for("health_ready"))
    # After a failed open, aiosqlite's worker thread stops a moment after the event loop.
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            thread.join(timeout=5)

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "database" in response.json()["detail"]
