from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.core.settings import Settings, SettingsError, load

from ..databases import url_for_tests

ROOT = Path(__file__).parents[2]


def test_reads_the_environment_over_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_database_url: str
) -> None:
    from_env = url_for_tests(real_database_url, suffix="_env")
    env_file = tmp_path / ".env"
    env_file.write_text(f"DATABASE_URL={real_database_url}\nDEBUG=true\n")
    monkeypatch.delenv("DEBUG", raising=False)  # the file's value shows only when the env has none
    monkeypatch.setenv("DATABASE_URL", from_env)
    monkeypatch.setenv("ALLOWED_HOSTS", "example.com, api.example.com")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.1, 10.0.0.0/24")
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://app.example.com, http://localhost:5173")
    monkeypatch.setenv("RATE_LIMIT_WRITES", "60/minute")

    settings = Settings(_env_file=env_file)

    assert settings.database_url == from_env
    assert settings.debug is True
    assert settings.allowed_hosts == ("example.com", "api.example.com")
    assert settings.forwarded_allow_ips == ("10.0.0.1", "10.0.0.0/24")
    assert settings.cors_allow_origins == ("https://app.example.com", "http://localhost:5173")
    assert settings.rate_limit_writes == "60/minute"
    assert settings.max_body_size == 128 * 1024


@pytest.mark.parametrize(
    ("variable", "value", "sentence"),
    [
        ("DATABASE_POOL_MAX", "ten", "DATABASE_POOL_MAX='ten' is not valid: input should be a"),
        ("DATABASE_POOL_MIN", "0", "DATABASE_POOL_MIN='0' is not valid: input should be greater"),
        ("DATABASE_TIMEOUT", "-1", "DATABASE_TIMEOUT='-1' is not valid: input should be greater"),
        ("DEBUG", "maybe", "DEBUG='maybe' is not valid: input should be a valid boolean"),
        ("DATABASE_POOL_MIN", "20", "DATABASE_POOL_MIN (20) must not be larger than"),
        ("DATABASE_URL", "mysql://u@db/app", "DATABASE_URL 'mysql://u@db/app' does not name an"),
        ("MAX_BODY_SIZE", "10", "MAX_BODY_SIZE='10' is not valid: input should be greater"),
        ("RATE_LIMIT_WRITES", "sixty", "RATE_LIMIT_WRITES='sixty' is not valid: write a rate like"),
        ("CORS_ALLOW_ORIGINS", "app.example.com", "CORS_ALLOW_ORIGINS='app.example.com' is not"),
        ("SHUTDOWN_DRAIN_SECONDS", "24", "SHUTDOWN_GRACE_SECONDS (25) must be at least two"),
        ("READINESS_TIMEOUT", "0", "READINESS_TIMEOUT='0' is not valid: input should be greater"),
        ("BROADCAST_URL", "kafka://k:9092", "BROADCAST_URL 'kafka://k:9092' names no broker"),
        ("BROADCAST_CHANNEL", "my notes", "BROADCAST_CHANNEL='my notes' is not valid: string"),
        # Each process would show its clients only the changes made through it.
        ("WEB_CONCURRENCY", "2", "WEB_CONCURRENCY=2 starts several processes, but BROADCAST_URL="),
    ],
)
def test_refuses_a_bad_value_in_one_sentence(
    variable: str,
    value: str,
    sentence: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    real_database_url: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DATABASE_URL", real_database_url)
    for other in ("BROADCAST_URL", "WEB_CONCURRENCY"):  # the defaults, whatever the project's
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError) as refused:
        load()

    message = str(refused.value)
    assert message.startswith(sentence), message
    assert message.endswith(".") and "\n" not in message


def test_a_missing_database_url_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)

    with pytest.raises(SettingsError, match=r"^DATABASE_URL is not set; add it to \.env"):
        load()


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
    environ = {"PATH": os.environ["PATH"], "DATABASE_URL": "postgresql://u@db/app"}
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
