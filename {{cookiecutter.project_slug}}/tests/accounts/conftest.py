"""The accounts tests' clients: `client` signed up and in through the pages, as a browser is
(the session cookie, and its CSRF token on every write); `anonymous` never signed in; and
`mailbox`, a real SMTP server the app's mail goes to (ask for it before the clients)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from .forms import new_email, sign_up
from .mailbox import Mailbox, start


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as client:
        sign_up(client, new_email())
        yield client


@pytest.fixture
def anonymous(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    box = Mailbox()
    controller, port = start(box)
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{port}")
    try:
        yield box
    finally:
        controller.stop()
