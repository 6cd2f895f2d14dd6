from __future__ import annotations

import io
import sys

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.accounts.manage import main

from .forms import PASSWORD, csrf_of


@pytest.fixture
def client(anonymous: TestClient) -> TestClient:
    """Anonymous here: accounts made by the command."""
    return anonymous


def test_createuser_makes_an_account_that_signs_in(
    app: Starlette,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PASSWORD", PASSWORD)

    assert main(["createuser", "First@Example.com"]) == 0
    assert main(["createuser", "first@example.com"]) == 1
    assert "exists already" in capsys.readouterr().err

    with TestClient(app) as client:
        form = client.get(app.url_path_for("sign_in_form"))
        fields = {"email": "first@example.com", "password": PASSWORD}
        signed_in = client.post(
            app.url_path_for("sign_in"), data={**fields, "csrf_token": csrf_of(form.text)}
        )
        assert signed_in.status_code == 200 and "first@example.com" in signed_in.text

        assert main(["deactivate", "first@example.com"]) == 0
        assert client.get(app.url_path_for("notes")).status_code == 401


@pytest.mark.parametrize(
    ("arguments", "password", "message"),
    [
        (["createuser", "nobody"], PASSWORD, "is not an email address"),
        (["createuser", "a@example.com"], "short", "choose a password of 8 to 256 characters"),
        (["createuser", "a@example.com"], "password", "among the most common ones"),
        (["createuser", "a@example.com"], "Iloveyou", "among the most common ones"),
        (["createuser", "a@example.com"], "        ", "not one character repeated"),
        (["deactivate", "missing@example.com"], PASSWORD, "There is no account for"),
    ],
)
def test_manage_refuses_in_one_sentence(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    password: str,
    message: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PASSWORD", password)

    assert main(arguments) == 1
    assert message in capsys.readouterr().err


def test_createuser_without_a_terminal_reads_standard_input_or_says_how(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("PASSWORD", raising=False)

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # closed or empty, as under a script
    assert main(["createuser", "nobody@example.com"]) == 1
    error = capsys.readouterr().err
    assert error.strip().splitlines() == [
        "Cannot createuser: there is no terminal to ask for the password: set PASSWORD, or send "
        "it on standard input."
    ]

    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["createuser", "piped@example.com"]) == 0
    assert "Done: createuser piped@example.com." in capsys.readouterr().out
