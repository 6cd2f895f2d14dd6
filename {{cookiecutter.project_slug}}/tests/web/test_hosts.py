"""Which Host headers the app answers, and whose X-Forwarded-* headers it believes."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.settings import Settings

from ..problems import assert_problem


def get_live(settings: Settings, base_url: str) -> int:
    with TestClient(create_app(settings), base_url=base_url) as client:
        return client.get("/health/live").status_code


@pytest.mark.parametrize(
    ("allowed", "base_url", "status"),
    [
        (("testserver",), "http://testserver", 200),
        (("127.0.0.1",), "http://127.0.0.1:8000", 200),
        (("*.example.com",), "http://api.example.com", 200),
        (("testserver",), "http://evil.example", 400),
        (("127.0.0.1",), "http://127.0.0.1.evil.example", 400),
        (("*.example.com",), "http://example.com.evil.example", 400),
    ],
)
def test_only_allowed_hosts_are_answered(
    settings: Settings, allowed: tuple[str, ...], base_url: str, status: int
) -> None:
    assert get_live(settings.model_copy(update={"allowed_hosts": allowed}), base_url) == status


def test_a_host_header_is_parsed_strictly(client: TestClient, app: Starlette) -> None:
    for host in [
        "evil.example",
        "testserver:1@evil.example",
        "testserver:@evil.example",
        "testserver@evil.example",
        "testserver:80:81",
        "testserver:http",
        "testserver/evil",
        "",
    ]:
        response = client.get(app.url_path_for("notes"), headers={"host": host})
        assert "Host" in assert_problem(response, 400)["detail"], host
    for host in ["testserver", "TESTSERVER", "testserver:8000"]:
        assert client.get(app.url_path_for("notes"), headers={"host": host}).status_code == 200


def create_through_proxy(caller: dict[str, str], settings: Settings) -> str:
    with TestClient(
        create_app(settings), headers=caller
    ) as client:  # the client's address is "testclient"
        response = client.post(
            "/api/notes",
            json={"title": "behind a proxy"},
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
        )
    assert response.status_code == 201
    return response.headers["location"]


def test_links_use_the_scheme_a_trusted_proxy_forwards(
    caller: dict[str, str], settings: Settings
) -> None:
    trusted = settings.model_copy(update={"forwarded_allow_ips": ("testclient",)})

    assert create_through_proxy(caller, trusted).startswith("https://testserver/api/notes/")


def test_forwarded_headers_are_ignored_unless_the_proxy_is_trusted(
    caller: dict[str, str], settings: Settings
) -> None:
    untrusted = settings.model_copy(update={"forwarded_allow_ips": ("10.0.0.1",)})

    assert create_through_proxy(caller, settings).startswith("http://testserver/")
    assert create_through_proxy(caller, untrusted).startswith("http://testserver/")
