"""What every API shape shares: ids, UTC datetimes, text patterns, strict input, problems."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
)

MAX_ID = 2**31 - 1


def as_utc(value: datetime) -> datetime:
    # PostgreSQL returns aware timestamps; SQLite and MySQL return naive ones, stored as UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]
# Lengths and patterns apply to the text as sent, so the OpenAPI document states them exactly;
# the stored text is then stripped. No NUL anywhere: PostgreSQL cannot store it in text.
NO_NUL = r"^[^\u0000]*$"
SOME_TEXT = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"  # and not only whitespace
# What each pattern asks for, in words: an error message says this instead of the pattern.
PATTERN_MESSAGES = {
    NO_NUL: "String should not contain a NUL character",
    SOME_TEXT: "String should have a character other than whitespace, and no NUL character",
}


class Input(BaseModel):
    """A request body: unknown fields and values of the wrong JSON type are refused, not coerced."""

    # Python's regular expressions: the same `\s` as str.strip() and as the test generators.
    model_config = ConfigDict(extra="forbid", regex_engine="python-re", strict=True)


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error response."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None
