"""The shapes of API requests and responses, validated by pydantic and published in OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
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
Title = Annotated[
    str,
    Field(min_length=1, max_length=200, pattern=SOME_TEXT),
    AfterValidator(str.strip),
]
Body = Annotated[str, Field(max_length=10_000, pattern=NO_NUL), AfterValidator(str.strip)]


class Input(BaseModel):
    """A request body: unknown fields and values of the wrong JSON type are refused, not coerced."""

    # Python's regular expressions: the same `\s` as str.strip() and as the test generators.
    model_config = ConfigDict(extra="forbid", regex_engine="python-re", strict=True)


class NoteIn(Input):
    title: Title
    body: Body = ""


def _absent_is_not_null(schema: dict[str, Any]) -> None:
    # An absent field keeps its value, so the document shows no default for it.
    for field in schema["properties"].values():
        field.pop("default", None)


class NotePatch(Input):
    """Fields to change; absent fields keep their value, and null is not a value."""

    model_config = ConfigDict(json_schema_extra=_absent_is_not_null)

    title: Annotated[Title | None, WithJsonSchema(TypeAdapter(Title).json_schema())] = None
    body: Annotated[Body | None, WithJsonSchema(TypeAdapter(Body).json_schema())] = None

    @field_validator("title", "body")
    @classmethod
    def not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class Page(BaseModel):
    limit: int = Field(20, ge=1, le=100, description="How many notes to return.")
    offset: int = Field(0, ge=0, le=MAX_ID, description="How many notes to skip.")
    total: bool = Field(
        False, description="Also count every note: a full count, slow on a large table."
    )


class Note(BaseModel):
    id: int
    title: str
    body: str
    created_at: UTCDateTime
    updated_at: UTCDateTime


class NotePage(BaseModel):
    items: list[Note]
    total: int | None = Field(description="How many notes there are, if `total=true` asked.")
    limit: int
    offset: int
    next: str | None = Field(description="URL of the next page, or null on the last page.")


class ClientMessage(BaseModel):
    """The one message a WebSocket client may send."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["ping"]


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error response."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None
