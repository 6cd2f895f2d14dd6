"""Settings, read once from the environment (and `.env`) and passed to `create_app`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from starlette.config import Config
from starlette.datastructures import CommaSeparatedStrings, Secret

from .database import url_problem

PLACEHOLDER_SECRET = "change-me"  # noqa: S105 - the value .env.example ships, refused below


class SettingsError(Exception):
    """The configuration cannot work; the message says what to change."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: Secret = field(repr=False)
    debug: bool = False
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    forwarded_allow_ips: tuple[str, ...] = ()
    broadcast_url: str = "memory://"
    database_pool_min: int = 1
    database_pool_max: int = 10
    database_timeout: float = 10.0

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] = os.environ, env_file: str | Path = ".env"
    ) -> Settings:
        config = Config(env_file if Path(env_file).is_file() else None, environ=environ)
        return cls(
            database_url=config("DATABASE_URL"),
            secret_key=Secret(config("SECRET_KEY", default="")),
            debug=config("DEBUG", cast=bool, default=False),
            allowed_hosts=tuple(
                config("ALLOWED_HOSTS", cast=CommaSeparatedStrings, default="127.0.0.1,localhost")
            ),
            forwarded_allow_ips=tuple(
                config("FORWARDED_ALLOW_IPS", cast=CommaSeparatedStrings, default="")
            ),
            broadcast_url=config("BROADCAST_URL", default="memory://"),
            database_pool_min=config("DATABASE_POOL_MIN", cast=int, default=1),
            database_pool_max=config("DATABASE_POOL_MAX", cast=int, default=10),
            database_timeout=config("DATABASE_TIMEOUT", cast=float, default=10.0),
        )

    def check(self) -> None:
        """Refuse settings the app cannot run with, saying what to change."""
        problem = url_problem(self.database_url)
        if problem:
            raise SettingsError(problem)
        if not 1 <= self.database_pool_min <= self.database_pool_max:
            raise SettingsError(
                "DATABASE_POOL_MIN must be at least 1 and at most DATABASE_POOL_MAX "
                f"(got {self.database_pool_min} and {self.database_pool_max})."
            )
        secret = str(self.secret_key)
        if not self.debug and (len(secret) < 32 or secret == PLACEHOLDER_SECRET):
            raise SettingsError(
                "SECRET_KEY is missing or a placeholder; set it to a long random value, "
                'e.g. the output of: python -c "import secrets; print(secrets.token_urlsafe(48))"'
            )
