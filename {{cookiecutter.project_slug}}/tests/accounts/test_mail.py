"""Mail to users, through a real SMTP server: the sign-up's confirmation link, a password reset
by a single-use expiring link that ends every session, the notice of a change, and the same
answer for an address without an account."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.accounts.settings import load_auth
from {{ cookiecutter.package_name }}.accounts.tables import email_links
from {{ cookiecutter.package_name }}.core.database import Database
from {{ cookiecutter.package_name }}.core.settings import SettingsError

from ..conftest import settle
from .forms import PASSWORD, csrf_of, new_email, sign_out, sign_up
from .mailbox import Mailbox

NEW_PASSWORD = "a new horse, a new staple"  # noqa: S105 - the test users' next password


def ask_reset(client: TestClient, email: str) -> tuple[int, str]:
    form = client.get("/forgot-password")
    answer = client.post(
        "/forgot-password", data={"email": email, "csrf_token": csrf_of(form.text)}
    )
    settle(client)
    return answer.status_code, answer.text


def reset(client: TestClient, link: str, password: str = NEW_PASSWORD) -> int:
    form = client.get(link)
    if form.status_code != 200:
        return form.status_code
    token = link.partition("token=")[2]
    fields = {"token": token, "new_password": password, "csrf_token": csrf_of(form.text)}
    status = client.post("/reset-password", data=fields, follow_redirects=False).status_code
    settle(client)
    return status


def sign_in(client: TestClient, email: str, password: str) -> int:
    form = client.get("/sign-in")
    fields = {"email": email, "password": password, "csrf_token": csrf_of(form.text)}
    return client.post("/sign-in", data=fields, follow_redirects=False).status_code


def expire_links(database_url: str) -> None:
    async def expire() -> None:
        db = Database(database_url)
        try:
            past = datetime.now(UTC) - timedelta(minutes=1)
            await db.execute(email_links.update().values(expires_at=past))
        finally:
            await db.disconnect()

    with ThreadPoolExecutor(1) as thread:  # the test client's loop may be running
        thread.submit(asyncio.run, expire()).result()


def test_sign_up_mails_a_link_that_confirms_the_address(mailbox: Mailbox, app: Starlette) -> None:
    email = new_email()
    with TestClient(app) as client:
        sign_up(client, email)
        (message,) = mailbox.to(email)
        assert message["Subject"] == "Confirm your email address"
        html = message.get_body(("html",))
        assert (
            html is not None and 'href="http://testserver/verify-email?token=' in html.get_content()
        )
        assert 'id="email-unverified"' in client.get("/account").text

        link = mailbox.link(email)
        confirmed = client.get(link)
        assert confirmed.status_code == 200 and "Your address is confirmed." in confirmed.text
        assert 'id="email-verified"' in client.get("/account").text
        assert client.get(link).status_code == 400  # once


def test_the_account_page_mails_the_link_again(mailbox: Mailbox, app: Starlette) -> None:
    email = new_email()
    with TestClient(app) as client:
        sign_up(client, email)
        csrf = csrf_of(client.get("/account").text)
        sent = client.post("/account/verify-email", data={"csrf_token": csrf})
        settle(client)
        assert sent.status_code == 200 and "A new link is on its way" in sent.text
        assert len(mailbox.to(email)) == 2
        assert client.get(mailbox.link(email)).status_code == 200


def test_a_reset_link_sets_a_new_password_once_and_ends_every_session(
    mailbox: Mailbox, app: Starlette
) -> None:
    email = new_email()
    with TestClient(app) as client:
        sign_up(client, email)
        session = list(client.cookies.jar)
        sign_out(client)  # another browser, from here
        status, _ = ask_reset(client, email)
        assert status == 200
        assert mailbox.to(email)[-1]["Subject"] == "Reset your password"
        link = mailbox.link(email)

        assert reset(client, link) == 303
        assert sign_in(client, email, PASSWORD) == 400
        assert sign_in(client, email, NEW_PASSWORD) == 303
        assert mailbox.to(email)[-1]["Subject"] == "Your password was changed"
        assert reset(client, link, "yet another good password") == 400  # once

        sign_out(client)
        for cookie in session:  # the first browser's session has ended
            client.cookies.jar.set_cookie(cookie)
        assert client.get("/account", follow_redirects=False).status_code == 303


def test_a_reset_link_expires(mailbox: Mailbox, app: Starlette, database_url: str) -> None:
    email = new_email()
    with TestClient(app) as client:
        sign_up(client, email)
        ask_reset(client, email)
        expire_links(database_url)
        assert reset(client, mailbox.link(email)) == 400
        assert sign_in(client, email, PASSWORD) == 303


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    mailbox: Mailbox, app: Starlette
) -> None:
    email = new_email()
    with TestClient(app) as client:
        sign_up(client, email)
        before = len(mailbox.messages)
        known = ask_reset(client, email)
        assert len(mailbox.messages) == before + 1
        unknown = ask_reset(client, new_email())
        assert unknown == known
        assert len(mailbox.messages) == before + 1


def test_a_taken_address_signs_up_alike_and_gets_no_mail(mailbox: Mailbox, app: Starlette) -> None:
    email = new_email()
    with TestClient(app) as client:
        sign_up(client, email)
    with TestClient(app) as again:
        sign_up(again, email)  # the same answer: sign_up asserts it
    assert len(mailbox.to(email)) == 1


def test_mail_is_sent_best_effort(app: Starlette, caplog: pytest.LogCaptureFixture) -> None:
    # No mailbox: nothing listens where SMTP_URL points.
    with caplog.at_level(logging.WARNING), TestClient(app) as client:
        sign_up(client, new_email())
    assert "mail not sent: Confirm your email address" in caplog.text


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"smtp_url": "http://mail.example.com"}, "SMTP_URL is not a mail server's URL"),
        ({"smtp_url": "smtp://:25"}, "SMTP_URL is not a mail server's URL"),
        ({"smtp_url": "smtp://host:port"}, "SMTP_URL is not a mail server's URL"),
        ({"mail_rate_per_account": "often"}, "MAIL_RATE_PER_ACCOUNT='often' is not valid"),
        ({"reset_link_minutes": 0}, "RESET_LINK_MINUTES=0 is not valid"),
        ({"mail_from": "nobody"}, "MAIL_FROM='nobody' is not valid"),
    ],
)
def test_bad_mail_settings_stop_the_app(values: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_auth(**values)
