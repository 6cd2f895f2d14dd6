"""Signing up, in and out through the account pages, as a browser does: the session cookie,
and the CSRF token its forms carry."""

from __future__ import annotations

import itertools
import re

import httpx2 as httpx
from starlette.testclient import TestClient

from ..conftest import settle

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery staple"  # noqa: S105 - the test users' password
# What a client may send to act for its user: the session's CSRF token, or a token of its own.
OWN_HEADERS = ("X-CSRF-Token", "Authorization")
_numbers = itertools.count(1)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def new_email() -> str:
    return f"user{next(_numbers)}@example.com"


def sign_up(client: TestClient, email: str, password: str = PASSWORD) -> None:
    """Create an account on the sign-up page and sign in with it; `client` is then signed in,
    and its writes carry the CSRF token of its session."""
    joined = try_sign_up(client, email, password)
    assert joined.status_code == 200 and 'id="notice"' in joined.text, joined.text
    fields = {"email": email, "password": password, "csrf_token": csrf_of(joined.text)}
    home = client.post("/sign-in", data=fields)
    assert home.status_code == 200, home.text
    client.headers["X-CSRF-Token"] = csrf_of(home.text)


def try_sign_up(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/sign-up")
    if form.status_code != 200:  # e.g. a Host header the app does not answer
        return form
    fields = {"email": email, "password": password, "csrf_token": csrf_of(form.text)}
    joined = client.post("/sign-up", data=fields)
    settle(client)
    return joined


def other_user(client: TestClient) -> dict[str, str]:
    """The headers of another user's personal access token, made through `client`, which then
    acts for its own user again: two users on one app (a test client runs one app at a time)."""
    cookies = list(client.cookies.jar)
    own = {name: client.headers[name] for name in OWN_HEADERS if name in client.headers}
    sign_out(client)
    sign_up(client, new_email())
    token = client.post("/api/tokens", json={"name": "other"}).json()["token"]
    sign_out(client)
    for cookie in cookies:  # as they were, domain included, so the app can delete them
        client.cookies.jar.set_cookie(cookie)
    client.headers.update(own)
    return {"Authorization": f"Bearer {token}"}


def sign_out(client: TestClient) -> None:
    """Forget the client's session, as a browser that never signed in."""
    client.cookies.clear()
    client.headers.pop("X-CSRF-Token", None)
    client.headers.pop("Authorization", None)
