"""Settings: every variable the app reads, declared once and checked before it starts.

Values come from the process environment, then from `.env`; `.env.example` explains each one.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# A comma-separated list in the environment ("a, b"), a tuple in the app.
CommaSeparated = Annotated[tuple[str, ...], NoDecode]
ORIGIN = re.compile(r"https?://[^/\s]+")


class SettingsError(Exception):
    """The configuration cannot work; the message says what to change, in one sentence."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str
    database_pool_min: int = Field(1, ge=1)
    database_pool_max: int = Field(10, ge=1)
    database_timeout: float = Field(10.0, gt=0)
    debug: bool = False
    allowed_hosts: CommaSeparated = ("127.0.0.1", "localhost")
    forwarded_allow_ips: CommaSeparated = ()
    broadcast_url: str = "memory://"
    broadcast_channel: str = Field("notes", pattern=r"^[A-Za-z0-9_.:-]{1,63}$")
    broadcast_timeout: float = Field(1.0, gt=0, le=60)
    jobs_url: str = "memory://"
    web_concurrency: int = Field(1, ge=1, le=256)  # read by scripts/start too
    max_body_size: int = Field(128 * 1024, ge=1024, le=2**30)
    cors_allow_origins: CommaSeparated = ()
    rate_limit_writes: str = ""
    idempotency_key_hours: float = Field(24.0, gt=0, le=24 * 365)
    readiness_timeout: float = Field(2.0, gt=0, le=30)
    shutdown_drain_seconds: float = Field(5.0, ge=0, le=300)
    shutdown_grace_seconds: float = Field(25.0, gt=0, le=3600)
    shutdown_drain_file: str = ""
    websocket_allowed_origins: CommaSeparated = ()  # empty: ALLOWED_HOSTS on http and https
    websocket_max_size: int = Field(4096, ge=64, le=1024 * 1024)
    websocket_queue_size: int = Field(64, ge=1, le=10_000)
    websocket_send_timeout: float = Field(10.0, gt=0, le=300)
    metrics_enabled: bool = True
    metrics_port: int = Field(9090, ge=1, le=65535)  # scripts/start serves /metrics there

    @field_validator(
        "allowed_hosts",
        "forwarded_allow_ips",
        "cors_allow_origins",
        "websocket_allowed_origins",
        mode="before",
    )
    @classmethod
    def split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("websocket_allowed_origins")
    @classmethod
    def websocket_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Compared with the Origin header as browsers send it: lowercase, no path, no "*".
        for origin in value:
            if not ORIGIN.fullmatch(origin.lower()):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return tuple(origin.lower() for origin in value)

    @field_validator("database_url")
    @classmethod
    def usable_database_url(cls, value: str) -> str:
        # A platform's URL (Heroku's postgres://, postgresql://, mysql://) names no driver: it
        # gets the one this app uses, so a URL the platform rotates works unchanged.
        scheme, separator, rest = value.partition("://")
        backend = SCHEME_ALIASES.get(scheme, scheme)
        if separator and backend in DRIVERS:
            value = f"{backend}+{DRIVERS[backend][0]}://{rest}"
        problem = url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("broadcast_url")
    @classmethod
    def known_broker(cls, value: str) -> str:
        scheme = value.partition("://")[0].partition("+")[0]
        if "://" not in value or scheme not in BROKERS:
            raise ValueError(
                f"BROADCAST_URL {value!r} names no broker this app supports; write memory://, "
                "redis://HOST:6379/0 or postgresql://USER@HOST:5432/DATABASE."
            )
        module = BROKERS[scheme]
        if module is not None and importlib.util.find_spec(f"{__package__}.{module}") is None:
            raise ValueError(
                f"BROADCAST_URL {value!r} needs {module}.py, which this project was made without; "
                "render the template with that broadcast choice and copy the module over."
            )
        return value

    @field_validator("jobs_url")
    @classmethod
    def known_queue(cls, value: str) -> str:
        scheme = value.partition("://")[0]
        if "://" not in value or scheme not in QUEUES:
            raise ValueError(
                f"JOBS_URL {value!r} names no job queue this app supports; write memory://, "
                "redis://HOST:6379/1 or postgresql://USER@HOST:5432/DATABASE."
            )
        module = QUEUES[scheme]
        if module is not None and importlib.util.find_spec(f"{__package__}.{module}") is None:
            raise ValueError(
                f"JOBS_URL {value!r} needs {module}.py and a worker, which this project was made "
                "without; render the template with jobs=redis or jobs=postgres."
            )
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return value

    @field_validator("rate_limit_writes")
    @classmethod
    def rate(cls, value: str) -> str:
        if not value:
            return value
        # Imported only for a rate to check: a cold start without one never loads limits.
        import limits

        try:
            limits.parse(value)
        except ValueError:
            raise ValueError("write a rate like 60/minute, or leave it empty") from None
        return value

    @model_validator(mode="after")
    def pool_bounds(self) -> Settings:
        if self.database_pool_min > self.database_pool_max:
            raise ValueError(
                f"DATABASE_POOL_MIN ({self.database_pool_min}) must not be larger than "
                f"DATABASE_POOL_MAX ({self.database_pool_max})."
            )
        return self

    @model_validator(mode="after")
    def one_process_for_memory(self) -> Settings:
        # Refused rather than warned about: each process would silently show its own clients
        # only the changes made through it.
        if self.web_concurrency > 1 and self.broadcast_url.startswith("memory:"):
            raise ValueError(
                f"WEB_CONCURRENCY={self.web_concurrency} starts several processes, but "
                "BROADCAST_URL=memory:// reaches the clients of one process only; use a broker "
                "(BROADCAST_URL=redis://... as the template's broadcast=redis sets up) or one "
                "process."
            )
        if not self.jobs_url.startswith("memory:") and self.broadcast_url.startswith("memory:"):
            raise ValueError(
                f"JOBS_URL={self.jobs_url} runs jobs in a worker process, whose job events "
                "reach WebSockets only through a broker, but BROADCAST_URL=memory://; set "
                "BROADCAST_URL to the broker's URL (redis://... or postgresql://...)."
            )
        return self

    @model_validator(mode="after")
    def shutdown_bounds(self) -> Settings:
        # The server needs time of its own, after the drain, to finish what is in flight.
        if self.shutdown_drain_seconds + 2 > self.shutdown_grace_seconds:
            raise ValueError(
                f"SHUTDOWN_GRACE_SECONDS ({self.shutdown_grace_seconds:g}) must be at least two "
                f"seconds longer than SHUTDOWN_DRAIN_SECONDS ({self.shutdown_drain_seconds:g})."
            )
        return self


def load(**values: Any) -> Settings:
    """Settings from the environment and `.env` (`values` win), or `SettingsError`."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(sentence(exc.errors(include_url=False)[0])) from None


def sentence(error: Any) -> str:
    """One pydantic error as one sentence naming the variable, e.g. for DATABASE_POOL_MAX=abc."""
    name = "_".join(str(part) for part in error["loc"]).upper()
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{name} is not set; add it to .env or the environment (see .env.example)."
    if not name or message.startswith(name):  # our own validators name the variable already
        return message
    return f"{name}={error['input']!r} is not valid: {message[0].lower()}{message[1:]}."


# Backend -> the async drivers `databases` supports for it; the first is the one to suggest.
DRIVERS = {
    "sqlite": ("aiosqlite",),
    "postgresql": ("asyncpg",),
    "mysql": ("aiomysql", "asyncmy"),
}
SCHEME_ALIASES = {"postgres": "postgresql", "mariadb": "mysql"}
# BROADCAST_URL scheme -> the module of this package that talks to that broker (events.py).
# JOBS_URL's scheme -> the module of its queue (None: jobs run in the web process).
QUEUES = {
    "memory": None,
    "redis": "jobs_saq",
    "rediss": "jobs_saq",
    "postgres": "jobs_saq",
    "postgresql": "jobs_saq",
}
BROKERS = {
    "memory": None,
    "redis": "broker_redis",
    "rediss": "broker_redis",
    "postgres": "broker_postgres",
    "postgresql": "broker_postgres",
}


def url_problem(url: str) -> str | None:
    """One sentence saying what is wrong with DATABASE_URL and what to write instead, or None."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return f"DATABASE_URL {url!r} is not a URL; write e.g. sqlite+aiosqlite:///./app.db."
    scheme = parsed.drivername.split("+")[0]
    backend = SCHEME_ALIASES.get(scheme, scheme)
    if backend not in DRIVERS:
        choices = ", ".join(f"{name}+{drivers[0]}://" for name, drivers in DRIVERS.items())
        return f"DATABASE_URL uses {scheme!r}, which this app does not support; use {choices}."
    driver = parsed.drivername.partition("+")[2]
    if driver not in DRIVERS[backend] or scheme != backend:
        suggestion = parsed.set(drivername=f"{backend}+{DRIVERS[backend][0]}")
        return (
            f"DATABASE_URL {parsed.render_as_string()!r} does not name an async driver; "
            f"write {suggestion.render_as_string()!r} instead."
        )
    if importlib.util.find_spec(driver) is None:
        return (
            f"DATABASE_URL needs the {driver} driver, which is not installed; "
            f"add it to the dependencies in pyproject.toml and run scripts/install."
        )
    return None
