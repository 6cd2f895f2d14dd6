"""Settings, read once from the environment (and `.env`) and passed to `create_app`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from starlette.config import Config
from starlette.datastructures import CommaSeparatedStrings, Secret

PLACEHOLDER_SECRET = "change-me"  # noqa: S105 - the value .env.example ships, refused below


class SettingsError(Exception):
    """The configuration cannot work; the message says what to change."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: Secret = field(repr=False)
    debug: bool = False
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    broadcast_url: str = "memory://"

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] = os.environ, env_file: str | Path = ".env"
    ) -> Settings:
        config = Config(env_file if Path(env_file).is_file() else None, environ=environ)
        return cls(
            database_url=config("DATABASE_URL"),
            secret_key=config("SECRET_KEY", cast=Secret),
            debug=config("DEBUG", cast=bool, default=False),
            allowed_hosts=tuple(
                config("ALLOWED_HOSTS", cast=CommaSeparatedStrings, default="127.0.0.1,localhost")
            ),
            broadcast_url=config("BROADCAST_URL", default="memory://"),
        )

    def check(self) -> None:
        """Refuse to run outside debug mode with a missing or placeholder secret."""
        secret = str(self.secret_key)
        if not self.debug and (len(secret) < 32 or secret == PLACEHOLDER_SECRET):
            raise SettingsError(
                "SECRET_KEY is missing or a placeholder; set it to a long random value, "
                'e.g. the output of: python -c "import secrets; print(secrets.token_urlsafe(48))"'
            )
