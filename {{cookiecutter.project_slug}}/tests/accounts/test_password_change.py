from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.settings import Settings

from .forms import PASSWORD, csrf_of, new_email, sign_out, sign_up

NEW = "a brand new passphrase"


def change(client: TestClient, current: str, new: str = NEW) -> int:
    form = client.get("/account/password")
    fields = {"current_password": current, "new_password": new, "csrf_token": csrf_of(form.text)}
    response = client.post("/account/password", data=fields, follow_redirects=False)
    if response.is_redirect:
        client.headers["X-CSRF-Token"] = csrf_of(client.get(response.headers["location"]).text)
    return response.status_code


def sign_in(client: TestClient, email: str, password: str) -> int:
    form = client.get("/sign-in")
    fields = {"email": email, "password": password, "csrf_token": csrf_of(form.text)}
    return client.post("/sign-in", data=fields, follow_redirects=False).status_code


def test_a_change_needs_the_current_password_and_a_good_new_one(client: TestClient) -> None:
    assert change(client, "not the password") == 400
    assert change(client, PASSWORD, "password") == 400
    assert change(client, PASSWORD, "short") == 400
    assert client.get("/account/password").headers["cache-control"] == "no-store"


def test_a_change_ends_the_other_sessions_and_keeps_this_one(client: TestClient) -> None:
    email = new_email()
    sign_up(client, email)
    this, csrf = client.cookies["session"], client.headers["X-CSRF-Token"]
    sign_out(client)
    assert sign_in(client, email, PASSWORD) == 303
    other = client.cookies["session"]  # another device's session
    client.cookies.clear()
    client.cookies["session"], client.headers["X-CSRF-Token"] = this, csrf

    assert change(client, PASSWORD) == 303

    assert client.get("/account").status_code == 200  # still signed in here
    client.cookies.clear()
    client.cookies["session"] = other
    assert client.get("/account", follow_redirects=False).status_code == 303  # not there
    sign_out(client)
    assert sign_in(client, email, PASSWORD) == 400
    assert sign_in(client, email, NEW) == 303


def test_sign_ins_past_the_hashing_cap_get_503_with_retry_after(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hashes as slow as in production, one at a time: of eight sign-ins at once, some must wait.
    monkeypatch.delenv("PASSWORD_MEMORY_KIB")
    monkeypatch.delenv("PASSWORD_TIME_COST")
    monkeypatch.setenv("PASSWORD_HASHES_IN_FLIGHT", "1")
    with TestClient(create_app(settings)) as client:
        csrf = csrf_of(client.get("/sign-in").text)
        start = threading.Barrier(8)

        def attempt(number: int) -> httpx.Response:
            fields = {"email": f"nobody{number}@example.com", "password": "wrong password"}
            start.wait()
            return client.post("/sign-in", data={**fields, "csrf_token": csrf})

        with ThreadPoolExecutor(8) as threads:
            answers = list(threads.map(attempt, range(8)))

    refused = [answer for answer in answers if answer.status_code == 503]
    assert refused and {answer.status_code for answer in answers} <= {400, 503}
    assert all(answer.headers["retry-after"] == "1" for answer in refused)
