"""The database goes away for real (its connections cut by a proxy) and comes back."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator

import pytest
from httpx2 import Response
from sqlalchemy.engine import make_url
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.settings import Settings

from .proxy import Proxy

DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


@pytest.fixture
def proxy(database_url: str) -> Iterator[Proxy]:
    target = make_url(database_url)
    port = target.port or DEFAULT_PORTS[target.get_backend_name()]
    with Proxy(target.host or "127.0.0.1", port) as proxy:
        yield proxy


@pytest.fixture
def client(database_url: str, proxy: Proxy) -> Iterator[TestClient]:
    through_proxy = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    settings = Settings(
        database_url=through_proxy.render_as_string(hide_password=False),
        secret_key=Secret(secrets.token_urlsafe(48)),
        allowed_hosts=("testserver",),
        database_timeout=3,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def eventually(call: Callable[[], Response], status: int, seconds: float = 15) -> Response:
    deadline = time.monotonic() + seconds
    while True:
        response = call()
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def assert_unavailable(response: Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 503
    assert "Traceback" not in response.text


def test_starts_without_the_database_and_recovers_when_it_returns(
    client: TestClient, proxy: Proxy
) -> None:
    ready = client.get("/health/ready")
    assert_unavailable(ready)
    assert "unreachable" in ready.json()["detail"]
    assert_unavailable(client.post("/api/notes", json={"title": "lost"}))
    assert_unavailable(client.get("/api/notes"))

    proxy.start()

    assert eventually(lambda: client.get("/health/ready"), 200).status_code == 200
    created = client.post("/api/notes", json={"title": "kept"})
    assert created.status_code == 201
    assert client.get("/api/notes").json()["total"] == 1


def test_survives_losing_the_database_while_running(client: TestClient, proxy: Proxy) -> None:
    proxy.start()
    note = eventually(lambda: client.post("/api/notes", json={"title": "before"}), 201).json()

    proxy.stop()

    assert_unavailable(client.get(f"/api/notes/{note['id']}"))
    assert_unavailable(client.get("/health/ready"))
    assert_unavailable(client.patch(f"/api/notes/{note['id']}", json={"title": "during"}))

    proxy.start()

    assert eventually(lambda: client.get(f"/api/notes/{note['id']}"), 200).json() == note
    assert client.get("/health/ready").status_code == 200
