"""The notes API's shapes: what it accepts and returns, validated by pydantic and published
in the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
)

from ..core.jobs import Status
from ..web.schemas import MAX_ID, NO_NUL, SOME_TEXT, Input, UTCDateTime

Title = Annotated[
    str,
    Field(min_length=1, max_length=200, pattern=SOME_TEXT),
    AfterValidator(str.strip),
]
Body = Annotated[str, Field(max_length=10_000, pattern=NO_NUL), AfterValidator(str.strip)]


class NoteIn(Input):
    title: Title
    body: Body = ""


def _absent_is_not_null(schema: dict[str, Any]) -> None:
    # An absent field keeps its value, so the document shows no default for it.
    for field in schema["properties"].values():
        field.pop("default", None)


class NotePatch(Input):
    """The fields to change. A field left out keeps its value; null empties a field that may be
    empty (title and body may not: null is refused for them)."""

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


class Export(BaseModel):
    """An export of the caller's notes: a job, then a JSON file."""

    id: str
    status: Status
    progress: float = Field(ge=0, le=1, description="How far the job is, 0 to 1.")
    file: str | None = Field(description="Where to download the file, once complete.")


class ExportFile(BaseModel):
    """An export's file: the caller's notes, oldest first, as the API shows them."""

    exported_at: UTCDateTime
    truncated: bool = Field(description="Whether there were more notes than an export holds.")
    notes: list[Note]
