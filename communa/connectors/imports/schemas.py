"""One row of an import file, NDJSON or CSV (docs/connectors/import.md). The demo community generator
writes exactly these NDJSON keys: renaming one breaks it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from communa.connectors.base import MessageKind

ID_LENGTH = 255  # external ids are stored in 255-character columns

REQUIRED_FIELDS = ("id", "created_at", "author_id")
ROW_FIELDS = (
    "id",
    "created_at",
    "author_id",
    "author_name",
    "author_handle",
    "author_email",
    "text",
    "title",
    "kind",
    "thread_id",
    "parent_id",
    "url",
    "language",
    "metadata",
)
CSV_FIELDS = tuple(name for name in ROW_FIELDS if name != "metadata")  # a CSV cell holds text, not an object


class ImportRow(BaseModel):
    # Spreadsheets turn ids into numbers: take them back as text. Fields this schema does not know are
    # ignored (the command says which), so exports with extra columns import as they are.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    id: str = Field(min_length=1, max_length=ID_LENGTH)
    created_at: AwareDatetime
    author_id: str = Field(min_length=1, max_length=ID_LENGTH)
    author_name: str = ""
    author_handle: str = ""
    author_email: str = ""
    text: str = ""
    title: str = ""
    kind: MessageKind = MessageKind.POST
    thread_id: str = Field(default="", max_length=ID_LENGTH)
    parent_id: str = Field(default="", max_length=ID_LENGTH)
    url: str = ""
    language: str = Field(default="", max_length=12)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id", "author_id", "thread_id", "parent_id", "author_email", "url", "language", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("kind", mode="before")
    @classmethod
    def _lower_kind(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        if not value:
            return value
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        return value
