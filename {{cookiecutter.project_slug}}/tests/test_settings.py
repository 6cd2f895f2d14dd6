from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.database import url_for_tests
from {{ cookiecutter.package_name }}.settings import Settings, SettingsError

GOOD_SECRET = "s" * 40
ROOT = Path(__file__).parents[1]


def test_reads_the_environment_over_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=sqlite+aiosqlite:///from-file.db\nDEBUG=true\n")

    settings = Settings.from_environ(
        {
            "DATABASE_URL": "sqlite+aiosqlite:///from-env.db",
            "SECRET_KEY": GOOD_SECRET,
            "ALLOWED_HOSTS": "example.com, api.example.com",
            "FORWARDED_ALLOW_IPS": "10.0.0.1, 10.0.0.0/24",
        },
        env_file=env_file,
    )

    assert settings.database_url == "sqlite+aiosqlite:///from-env.db"
    assert settings.debug is True
    assert settings.allowed_hosts == ("example.com", "api.example.com")
    assert settings.forwarded_allow_ips == ("10.0.0.1", "10.0.0.0/24")
    assert GOOD_SECRET not in repr(settings)


@pytest.mark.parametrize("secret", ["change-me", "short", ""])
def test_refuses_a_weak_secret_outside_debug(
    secret: str, tmp_path: Path, real_database_url: str
) -> None:
    environ = {"DATABASE_URL": real_database_url, "SECRET_KEY": secret}
    settings = Settings.from_environ(environ, env_file=tmp_path / ".env")

    with pytest.raises(SettingsError, match="SECRET_KEY"):
        settings.check()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:///./app.db", "sqlite+aiosqlite:///test_app.db"),
        ("sqlite+aiosqlite:///data/app.db", "sqlite+aiosqlite:///data/test_app.db"),
        ("postgresql+asyncpg://u:p@db:5432/app", "postgresql+asyncpg://u:p@db:5432/test_app"),
        ("mysql+asyncmy://root@db/app", "mysql+asyncmy://root@db/test_app"),
    ],
)
def test_test_database_is_named_from_the_real_one(url: str, expected: str) -> None:
    assert url_for_tests(url) == expected


def test_bad_database_url_stops_the_server_with_one_sentence(tmp_path: Path) -> None:
    environ = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": "postgresql://u@db/app",
        "SECRET_KEY": GOOD_SECRET,
    }
    result = subprocess.run(
        [sys.executable, "-c", "import {{ cookiecutter.package_name }}.asgi"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Configuration error: DATABASE_URL 'postgresql://u@db/app' does not name an async driver; "
        "write 'postgresql+asyncpg://u@db/app' instead."
    ]
