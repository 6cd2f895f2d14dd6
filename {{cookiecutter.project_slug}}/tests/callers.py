"""Who the suite's requests act for. Anyone may call this app, so a request needs nothing:
`caller` is the headers a test client sends (conftest's `client` fixture sends them, and so
does every test that makes a client of its own)."""

from __future__ import annotations

import pytest


@pytest.fixture
def caller() -> dict[str, str]:
    return {}
