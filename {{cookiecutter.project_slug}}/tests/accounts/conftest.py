"""The accounts tests' clients: `client` signed up and in through the pages, as a browser is
(the session cookie, and its CSRF token on every write); `anonymous` never signed in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from .forms import new_email, sign_up


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as client:
        sign_up(client, new_email())
        yield client


@pytest.fixture
def anonymous(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client
