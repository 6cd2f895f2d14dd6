"""The accounts' settings: the key that signs sessions, how long they last, sign-in limits, and
where and how often mail is sent."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import limits
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..core.settings import SettingsError, sentence

# SMTP_URL's scheme -> the port it defaults to.
SMTP_SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
WEAK = {"changeme", "secret", "change-me", "your-secret-key"}


class AuthSettings(BaseSettings):
    """The variables of user accounts (see .env.example)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    secret_key: SecretStr
    session_days: float = Field(14.0, gt=0, le=366)
    login_rate_per_account: str = "5/minute"
    login_rate_per_address: str = "20/minute"
    # Argon2id's cost: OWASP's recommended 19 MiB of memory and two passes by default.
    password_memory_kib: int = Field(19 * 1024, ge=8, le=1024 * 1024)
    password_time_cost: int = Field(2, ge=1, le=10)
    # Hashes running at once in one process (each holds PASSWORD_MEMORY_KIB); more are refused
    # with 503 and Retry-After.
    password_hashes_in_flight: int = Field(2, ge=1, le=64)
    # Where mail goes (smtp://, smtp+starttls://, smtps://; USER:PASSWORD@ in the URL), from whom.
    smtp_url: SecretStr = SecretStr("smtp://127.0.0.1:1025")
    smtp_timeout: float = Field(10.0, gt=0, le=120)
    mail_from: str = Field("noreply@localhost", pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    mail_rate_per_account: str = "3/hour"
    mail_rate_per_address: str = "10/hour"
    reset_link_minutes: int = Field(30, ge=5, le=24 * 60)
    verify_link_hours: int = Field(48, ge=1, le=24 * 30)

    @field_validator("smtp_url")
    @classmethod
    def smtp(cls, value: SecretStr) -> SecretStr:
        url = urlsplit(value.get_secret_value())
        try:
            url.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            url = url._replace(scheme="")
        if url.scheme not in SMTP_SCHEMES or not url.hostname:
            raise ValueError(
                "SMTP_URL is not a mail server's URL; write smtp://HOST:25, "
                "smtp+starttls://USER:PASSWORD@HOST:587 or smtps://USER:PASSWORD@HOST:465."
            )
        return value

    @field_validator(
        "login_rate_per_account",
        "login_rate_per_address",
        "mail_rate_per_account",
        "mail_rate_per_address",
    )
    @classmethod
    def rate(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError:
            raise ValueError("write a rate like 5/minute") from None
        return value

    @field_validator("secret_key")
    @classmethod
    def strong(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if len(key) < 32 or len(set(key)) < 16 or key.lower() in WEAK:
            raise ValueError(
                "SECRET_KEY is too weak to sign sessions: set it to at least 32 random characters, "
                "such as python -c 'import secrets; print(secrets.token_urlsafe(48))' prints."
            )
        return value


def load_auth(**values: Any) -> AuthSettings:
    """`AuthSettings` from the environment and `.env` (`values` win), or `SettingsError`."""
    try:
        return AuthSettings(**values)
    except ValidationError as exc:
        raise SettingsError(sentence(exc.errors(include_url=False)[0])) from None
