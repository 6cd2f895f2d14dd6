"""Error reports, sent to a real receiver (tests/receiver.py, on a free port) that the DSN
names; it keeps the envelopes sentry-sdk posts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.reporting import (
    ReportingSettings,
    load_reporting,
    scrub,
)
from {{ cookiecutter.package_name }}.core.settings import Settings, SettingsError

from ..receiver import Receiver, receiving

ROOT = Path(__file__).parents[2]
SECRETS = ("secret-token", "secret-cookie", "secret-body", "alice@example.com")


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with receiving() as server:
        monkeypatch.setenv("SENTRY_DSN", f"http://public@127.0.0.1:{server.port}/1")
        monkeypatch.setenv("SENTRY_ENVIRONMENT", "testing")
        monkeypatch.setenv("SENTRY_RELEASE", "notes@9.9.9")
        yield server


def events(receiver: Receiver) -> list[dict[str, Any]]:
    """The event items of the envelopes posted to `receiver`."""
    found = []
    for _, body in receiver.posts:
        lines = body.split(b"\n")
        # An envelope: its header line, then per item a header line and a payload line.
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                found.append(json.loads(payload))
    return found


async def fail(request: Request) -> Response:
    await request.body()
    raise RuntimeError("no note for alice@example.com")


def test_an_unhandled_error_is_one_event_with_the_request_id_and_no_secrets(
    receiver: Receiver, settings: Settings, caller: dict[str, str]
) -> None:
    app = create_app(settings)
    app.router.routes.append(Route("/fail", fail, methods=["POST"], name="fail"))
    # The caller's own credentials where it has some (with accounts, a real token).
    headers = {"Authorization": "Bearer secret-token", **caller, "X-Request-ID": "report-me-1"}
    secrets = [*SECRETS, headers["Authorization"].split()[-1]]
    with TestClient(app, headers=headers, raise_server_exceptions=False) as client:
        client.cookies.set("session", "secret-cookie")
        response = client.post("/fail", content=b'{"password": "secret-body"}')
        assert response.status_code == 500
    # The lifespan's end sent what was queued.

    [event] = events(receiver)
    assert event["tags"]["request_id"] == "report-me-1"
    assert event["environment"] == "testing"
    assert event["release"] == "notes@9.9.9"
    [exception] = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["value"] == "no note for [email]"
    sent = b"".join(body for _, body in receiver.posts).decode()
    for secret in secrets:
        assert secret not in sent, secret


def test_scrub_removes_what_the_integration_would_send() -> None:
    event = {
        "request": {
            "url": "http://testserver/fail",
            "data": "secret-body",
            "cookies": {"session": "secret-cookie"},
            "headers": {"Authorization": "Bearer secret-token", "Cookie": "a=secret-cookie"},
        },
        "user": {"email": "alice@example.com", "ip_address": "10.0.0.1"},
        "breadcrumbs": {"values": [{"message": "sent to alice@example.com"}]},
    }

    scrubbed = json.dumps(scrub(event, {}))

    for secret in (*SECRETS, "10.0.0.1"):
        assert secret not in scrubbed, secret
    assert "http://testserver/fail" in scrubbed


def test_without_a_dsn_nothing_is_sent(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_DSN", "")

    assert not load_reporting().sentry_dsn.get_secret_value()
    with TestClient(create_app(settings)) as client:
        assert client.get("/health/live").status_code == 200


@pytest.mark.parametrize(
    ("values", "sentence"),
    [
        ({"sentry_dsn": "not a dsn"}, "SENTRY_DSN is not a Sentry DSN; copy it from"),
        ({"sentry_environment": "two words"}, "SENTRY_ENVIRONMENT='two words' is not valid"),
    ],
)
def test_bad_values_are_refused_in_one_sentence(values: dict[str, Any], sentence: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_reporting(_env_file=None, **values)

    assert str(refused.value).startswith(sentence)
    assert "\n" not in str(refused.value)


def test_env_example_documents_every_reporting_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    documented = {line.split("=")[0] for line in example.splitlines() if line.startswith("SENTRY_")}

    assert documented == {name.upper() for name in ReportingSettings.model_fields}
