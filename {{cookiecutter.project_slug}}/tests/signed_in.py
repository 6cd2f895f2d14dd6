"""With user accounts, every test client acts for a user of its own, signed in on the page.

So the suite's tests of notes, pages and sockets run as a user, through the session cookie and
its CSRF token. Tests of what the anonymous get are marked `anonymous`. pyproject.toml's pytest
options load this module as a plugin.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.database import Database
from {{ cookiecutter.package_name }}.users import TOKEN_PREFIX, create_token, create_user

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery staple"  # noqa: S105 - the test users' password
_numbers = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "anonymous: the test's clients are not signed in")


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def new_email() -> str:
    return f"user{next(_numbers)}@example.com"


def sign_up(client: TestClient, email: str, password: str = PASSWORD) -> None:
    """Create an account on the sign-up page; `client` is then signed in, and its writes carry
    the CSRF token of its session."""
    home = try_sign_up(client, email, password)
    assert home.status_code == 200, home.text
    client.headers["X-CSRF-Token"] = csrf_of(home.text)


def try_sign_up(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/sign-up")
    if form.status_code != 200:  # e.g. a Host header the app does not answer
        return form
    fields = {"email": email, "password": password, "csrf_token": csrf_of(form.text)}
    return client.post("/sign-up", data=fields)


def other_user(client: TestClient) -> dict[str, str]:
    """The headers of another user's personal access token, made through `client`, which then
    acts for its own user again: two users on one app (a test client runs one app at a time)."""
    cookies, csrf = list(client.cookies.jar), client.headers.get("X-CSRF-Token")
    sign_out(client)
    sign_up(client, new_email())
    token = client.post("/api/tokens", json={"name": "other"}).json()["token"]
    sign_out(client)
    for cookie in cookies:  # as they were, domain included, so the app can delete them
        client.cookies.jar.set_cookie(cookie)
    if csrf is not None:
        client.headers["X-CSRF-Token"] = csrf
    return {"Authorization": f"Bearer {token}"}


def stand_in_token(request: pytest.FixtureRequest) -> str:
    """A token for an app that cannot reach its database yet: made straight in the test's
    database when it has one, so it works once the app reaches it; else one only a database
    could check, so requests still wait on it (503) rather than stop at the door (401)."""
    if "database_url" not in request.fixturenames:
        return TOKEN_PREFIX + secrets.token_urlsafe(32)

    url = request.getfixturevalue("database_url")

    async def create() -> str:
        db = Database(url)
        try:
            user_id = await create_user(db, new_email(), "not used")
            return (await create_token(db, user_id, "tests"))[1]
        finally:
            await db.disconnect()

    # In a thread of its own: the caller may be inside an event loop (a fixture's, Mangum's).
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, create()).result()


def sign_out(client: TestClient) -> None:
    """Forget the client's session, as a browser that never signed in."""
    client.cookies.clear()
    client.headers.pop("X-CSRF-Token", None)


@pytest.fixture(autouse=True)
def signed_in_clients(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    if request.node.get_closest_marker("anonymous"):
        yield
        return
    enter = TestClient.__enter__

    def enter_signed_in(client: TestClient) -> TestClient:
        enter(client)
        home = try_sign_up(client, new_email())
        if home.status_code == 200:
            client.headers["X-CSRF-Token"] = csrf_of(home.text)
        elif home.status_code == 503:  # the test keeps the app's database away on purpose
            client.headers["Authorization"] = f"Bearer {stand_in_token(request)}"
        return client

    monkeypatch.setattr(TestClient, "__enter__", enter_signed_in)
    if "lambda_environment" in request.fixturenames:  # tests/test_aws_lambda.py's events
        sign_lambda_events_in(request, monkeypatch)
    yield


def sign_lambda_events_in(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Events given to the Lambda handler carry a user's token, as API Gateway passes it on."""
    aws_lambda = importlib.import_module("{{ cookiecutter.package_name }}.aws_lambda")
    handler = aws_lambda.handler
    token = stand_in_token(request)

    def signed_in(event: dict[str, Any], context: Any) -> Any:
        event["headers"]["authorization"] = f"Bearer {token}"
        return handler(event, context)

    monkeypatch.setattr(aws_lambda, "handler", signed_in)
