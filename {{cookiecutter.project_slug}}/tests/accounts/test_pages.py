from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.accounts.tables import users
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.core.database import Database
from {{ cookiecutter.package_name }}.core.settings import Settings

from .forms import PASSWORD, csrf_of, new_email, sign_out, sign_up


@pytest.fixture
def client(anonymous: TestClient) -> TestClient:
    """Anonymous here: each test signs in as it needs."""
    return anonymous


def sign_in(
    client: TestClient, email: str, password: str = PASSWORD, next_path: str | None = None
) -> httpx.Response:
    form = client.get("/sign-in")
    params = {} if next_path is None else {"next": next_path}
    fields = {"email": email, "password": password, "csrf_token": csrf_of(form.text)}
    return client.post("/sign-in", data=fields, params=params, follow_redirects=False)


def test_signing_in_gives_a_safe_cookie(client: TestClient, app: Starlette) -> None:
    sign_up(client, "New@Example.com")
    sign_out(client)

    response = sign_in(client, "new@example.com")

    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here: a browser would drop a Secure cookie
    page = client.get(app.url_path_for("home"))
    assert page.status_code == 200 and "new@example.com" in page.text
    assert page.headers["cache-control"] == "no-store"


def test_the_cookie_has_the_host_prefix_behind_tls(settings: Settings) -> None:
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        form = client.get("/sign-in")
        sign_up(client, "tls@example.com")
        home = client.get("/")

    cookie = form.headers["set-cookie"]
    assert cookie.startswith("__Host-session=") and "Secure" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie
    assert home.status_code == 200 and "tls@example.com" in home.text


def test_sign_up_answers_alike_and_keeps_an_existing_account(client: TestClient) -> None:
    sign_up(client, "twice@example.com")
    sign_out(client)
    answers = []
    for email in ("TWICE@example.com", new_email()):
        form = client.get("/sign-up")
        fields = {"email": email, "password": "another password", "csrf_token": csrf_of(form.text)}
        answers.append(client.post("/sign-up", data=fields, follow_redirects=False))

    assert [answer.status_code for answer in answers] == [303, 303]
    assert answers[0].headers["location"] == answers[1].headers["location"]
    assert sign_in(client, "twice@example.com", "another password").status_code == 400
    assert sign_in(client, "twice@example.com").status_code == 303


@pytest.mark.parametrize("password", ["password", "12345678", " " * 8, "PassWord1", "aaaaaaaaa"])
def test_sign_up_refuses_common_passwords(client: TestClient, password: str) -> None:
    form = client.get("/sign-up")
    fields = {"email": new_email(), "password": password, "csrf_token": csrf_of(form.text)}

    response = client.post("/sign-up", data=fields)

    assert response.status_code == 400 and 'id="form-error"' in response.text


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [("not-an-email", PASSWORD, "Enter an email address"), (None, "short", "Choose a password")],
)
def test_sign_up_refuses_bad_fields(
    client: TestClient, email: str | None, password: str, message: str
) -> None:
    form = client.get("/sign-up")
    fields = {"email": email or new_email(), "password": password}

    response = client.post("/sign-up", data={**fields, "csrf_token": csrf_of(form.text)})

    assert response.status_code == 400 and message in response.text


def test_a_form_without_its_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/sign-up")  # a session, with a token the forged form does not know

    for token in ("", "forged"):
        fields = {"email": new_email(), "password": PASSWORD, "csrf_token": token}
        assert client.post("/sign-up", data=fields).status_code == 403
    assert client.post("/sign-up", json={"email": new_email()}).status_code == 415


def test_sign_in_goes_where_the_visitor_was_going(client: TestClient) -> None:
    sign_up(client, "back@example.com")
    sign_out(client)

    assert sign_in(client, "back@example.com", next_path="/account").headers["location"] == (
        "/account"
    )
    for elsewhere in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        sign_out(client)
        response = sign_in(client, "back@example.com", next_path=elsewhere)
        assert response.headers["location"] == "/"


def test_unknown_email_and_wrong_password_get_the_same_answer(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At the production cost: the suite's cheap hash would drown the difference in noise.
    monkeypatch.delenv("PASSWORD_MEMORY_KIB")
    monkeypatch.delenv("PASSWORD_TIME_COST")
    answers = []
    with TestClient(create_app(settings)) as client:
        sign_up(client, "known@example.com")
        sign_out(client)
        for email, password in [("known@example.com", "wrong password"), (new_email(), PASSWORD)]:
            times = []
            for _ in range(3):  # the fastest of three: a busy machine only ever adds time
                started = time.perf_counter()
                response = sign_in(client, email, password)
                times.append(time.perf_counter() - started)
            answers.append((response.status_code, min(times), response))

    (wrong_status, wrong_time, wrong), (unknown_status, unknown_time, unknown) = answers
    assert wrong_status == unknown_status == 400
    assert "Wrong email or password." in wrong.text and "Wrong email or password." in unknown.text
    # Both hash a password: neither answers in a fraction of the other's time.
    assert unknown_time > wrong_time / 3 and wrong_time > unknown_time / 3


def run_sql(url: str, statement: sa.Select[Any] | sa.Update) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        db = Database(url)
        try:
            if isinstance(statement, sa.Select):
                return await db.fetch_all(statement)
            await db.execute(statement)
            return []
        finally:
            await db.disconnect()

    return asyncio.run(run())


def test_sign_in_records_it_and_rehashes_an_older_hash(
    client: TestClient, database_url: str
) -> None:
    sign_up(client, "old@example.com")
    sign_out(client)
    older = PasswordHash((Argon2Hasher(time_cost=3, memory_cost=64, parallelism=1),))
    run_sql(database_url, users.update().values(password_hash=older.hash(PASSWORD)))

    assert sign_in(client, "old@example.com").status_code == 303

    # Rehashed with the app's parameters: the suite's cheap ones (tests/callers.py).
    memory, passes = os.environ["PASSWORD_MEMORY_KIB"], os.environ["PASSWORD_TIME_COST"]
    [user] = run_sql(database_url, sa.select(users))
    assert str(user["password_hash"]).startswith(f"$argon2id$v=19$m={memory},t={passes},p=1$")
    assert user["last_login_at"] is not None
    sign_out(client)
    assert sign_in(client, "old@example.com").status_code == 303  # the new hash verifies


def test_signing_out_ends_every_copy_of_the_session(client: TestClient, app: Starlette) -> None:
    sign_up(client, "leaving@example.com")
    copy = {"Cookie": f"session={client.cookies['session']}"}  # e.g. taken from another device
    csrf = csrf_of(client.get(app.url_path_for("home")).text)

    client.post(app.url_path_for("sign_out"), data={"csrf_token": csrf})

    assert client.get("/api/notes").status_code == 401
    sign_out(client)  # only the copy now
    assert client.get("/api/notes", headers=copy).status_code == 401
    assert sign_in(client, "leaving@example.com").status_code == 303  # a new session works
    assert client.get("/api/notes").status_code == 200
    sign_out(client)
    assert client.get("/api/notes", headers=copy).status_code == 401  # the old one still not


def test_a_deactivated_user_cannot_sign_in(client: TestClient, database_url: str) -> None:
    sign_up(client, "gone@example.com")
    run_sql(database_url, users.update().values(active=False))

    assert client.get("/api/notes").status_code == 401  # the session ends at once
    sign_out(client)
    assert sign_in(client, "gone@example.com").status_code == 400


def test_too_many_attempts_get_429_with_retry_after(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGIN_RATE_PER_ACCOUNT", "2/minute")
    monkeypatch.setenv("LOGIN_RATE_PER_ADDRESS", "3/minute")
    with TestClient(create_app(settings)) as client:
        statuses = [sign_in(client, "target@example.com", "guess").status_code for _ in range(3)]
        assert statuses == [400, 400, 429]  # per account
        # Other accounts from the same address: one more attempt, then refused too.
        assert sign_in(client, new_email(), "guess").status_code == 400
        refused = sign_in(client, new_email(), "guess")

    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Too many attempts" in refused.text


def test_only_one_spelling_of_an_email_signs_in(client: TestClient) -> None:
    sign_up(client, "alice@example.com")
    sign_out(client)

    assert sign_in(client, "al\u00edce@example.com").status_code == 400  # accented: another
    assert sign_in(client, " ALICE@example.com ").status_code == 303  # case and space fold


def test_spellings_of_one_address_share_its_sign_in_limit(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGIN_RATE_PER_ACCOUNT", "4/minute")  # sign_up signs in: one of them
    composed, decomposed = "jos\u00e9@example.com", "jose\u0301@example.com"
    with TestClient(create_app(settings)) as client:
        sign_up(client, composed)
        sign_out(client)
        spellings = [decomposed, " JOS\u00c9@example.com", composed]
        statuses = [sign_in(client, email, "guess").status_code for email in spellings]
        locked = sign_in(client, composed)  # the right password, past the account's limit
        other = sign_in(client, "jose@example.com", "guess")  # unaccented: another address

    assert statuses == [400, 400, 400]
    assert locked.status_code == 429
    assert other.status_code == 400
