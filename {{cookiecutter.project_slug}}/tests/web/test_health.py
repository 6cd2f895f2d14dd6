from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.routing import Router
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.settings import Settings
from {{ cookiecutter.package_name }}.web import health

from ..databases import finish_failed_opens


def test_live_answers_without_touching_the_database(client: TestClient, app: Starlette) -> None:
    response = client.get(app.url_path_for("health_live"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_live_is_answered_before_routing_as_the_route_answers(
    caller: dict[str, str], settings: Settings
) -> None:
    app = create_app(settings)
    url, ready = app.url_path_for("health_live"), app.url_path_for("health_ready")
    with TestClient(Router(health.routes)) as router_only:
        routed = router_only.get(url)
    app.router.routes.clear()  # nothing left to route to

    with TestClient(app, headers=caller) as client:
        answered = client.get(url)
        assert client.get(ready).status_code == 404

    assert answered.content == routed.content
    assert answered.headers["content-type"] == routed.headers["content-type"]
    assert answered.headers["content-length"] == routed.headers["content-length"]
    # What Guard adds still comes with the early answer.
    assert answered.headers["x-request-id"]
    assert answered.headers["x-content-type-options"] == "nosniff"


def test_live_answers_head_without_a_body_and_leaves_other_methods_to_the_router(
    client: TestClient, app: Starlette
) -> None:
    url = app.url_path_for("health_live")

    head = client.head(url)
    post = client.post(url)

    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "15")
    assert post.status_code == 405
    assert post.headers["content-type"] == "application/problem+json"


def test_live_is_answered_under_a_root_path(caller: dict[str, str], settings: Settings) -> None:
    with TestClient(create_app(settings), root_path="/service", headers=caller) as client:
        response = client.get("/service/health/live")

    assert response.json() == {"status": "ok"}


def test_ready_when_the_database_answers(client: TestClient, app: Starlette) -> None:
    response = client.get(app.url_path_for("health_ready"))

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "broker": "memory",
        "jobs": "memory",
    }


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_not_ready_when_the_database_is_unreachable(
    caller: dict[str, str], unreachable_database_url: str
) -> None:
    settings = Settings(
        _env_file=None,
        database_url=unreachable_database_url,
        allowed_hosts=("testserver",),
    )
    app = create_app(settings)

    with TestClient(app, headers=caller) as client:
        response = client.get(app.url_path_for("health_ready"))
        finish_failed_opens()

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "database" in response.json()["detail"]
