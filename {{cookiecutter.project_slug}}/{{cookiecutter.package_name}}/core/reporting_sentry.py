"""Error reports to Sentry (sentry-sdk, its Starlette integration): each unhandled error, and
each line logged at ERROR, is one event carrying the request id.

Off while SENTRY_DSN is empty. Nothing personal leaves: no request bodies, cookies,
Authorization headers, client addresses or local variables, and `scrub` removes what looks
like an email address from every event before it is sent.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import sentry_sdk
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.utils import BadDsn, Dsn

from ..web.about import version
from .logs import REQUEST_ID
from .settings import Settings, SettingsError, sentence

# A name at a domain with a top-level name of letters: not a release such as "notes@1.2.0".
EMAIL = re.compile(r"[\w.+-]+@(?:[\w-]+\.)+[A-Za-z]{2,}\b")
# Request headers that carry credentials or identify a person; the integration sends the rest.
PRIVATE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


class ReportingSettings(BaseSettings):
    """The variables of error reports (see .env.example)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    sentry_dsn: SecretStr = SecretStr("")  # empty: no reports
    sentry_environment: str = Field("production", pattern=r"^[^\s/]{1,64}$")
    sentry_release: str = ""  # empty: <project>@<version> from pyproject.toml

    @field_validator("sentry_dsn")
    @classmethod
    def dsn(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value():
            try:
                Dsn(value.get_secret_value())
            except BadDsn:
                raise ValueError(
                    "SENTRY_DSN is not a Sentry DSN; copy it from the project's Client Keys "
                    "page (https://KEY@HOST/PROJECT), or leave it empty for no reports."
                ) from None
        return value


def load_reporting(**values: Any) -> ReportingSettings:
    try:
        return ReportingSettings(**values)
    except ValidationError as exc:
        raise SettingsError(sentence(exc.errors(include_url=False)[0])) from None


class Reporter:
    """What `start` gives `create_app`: `stop`, which sends what is queued, at its end."""

    def __init__(self, on: bool) -> None:
        self.on = on

    async def stop(self) -> None:
        if self.on:
            await asyncio.to_thread(sentry_sdk.get_client().close, 5.0)


def start(settings: Settings) -> Reporter:
    config = load_reporting()
    dsn = config.sentry_dsn.get_secret_value()
    if not dsn:
        return Reporter(False)
    sentry_sdk.init(
        dsn=dsn,
        environment=config.sentry_environment,
        release=config.sentry_release or f"{{ cookiecutter.project_slug }}@{version()}",
        integrations=[StarletteIntegration(transaction_style="url")],
        # What the integrations collect: no user, cookies, bodies, credentials or variables.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "denylist", "terms": sorted(PRIVATE_HEADERS)}},
            "http_bodies": [],
            "stack_frame_variables": False,
            "database_query_data": False,
        },
        traces_sample_rate=None,  # errors only: traces are another matter
        before_send=scrub,
    )
    return Reporter(True)


def scrub(event: Any, hint: Any) -> Any:
    """The event with its request id, and without credentials, cookies, bodies or emails."""
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("tags", {})["request_id"] = request_id
    request = event.get("request") or {}
    for key in ("data", "cookies", "env"):
        request.pop(key, None)
    headers = request.get("headers")
    if isinstance(headers, dict):
        request["headers"] = {
            name: value for name, value in headers.items() if name.lower() not in PRIVATE_HEADERS
        }
    event.pop("user", None)
    return without_emails(event)


def without_emails(value: Any) -> Any:
    if isinstance(value, str):
        return EMAIL.sub("[email]", value)
    if isinstance(value, dict):
        return {key: without_emails(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_emails(item) for item in value]
    return value
