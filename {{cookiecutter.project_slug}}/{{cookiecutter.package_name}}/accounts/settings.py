"""The accounts' settings: the key that signs sessions, how long they last, sign-in limits."""

from __future__ import annotations

from typing import Any

import limits
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..core.settings import SettingsError, sentence

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

    @field_validator("login_rate_per_account", "login_rate_per_address")
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
