"""The documented JSON a sender pushes to a webhook source (docs/connectors/webhook.md).

A body is either one event object or {"events": [event, ...]}. Unknown fields are refused rather than
ignored, so that a typo ("create_at") is reported to the sender instead of silently losing data; anything
extra belongs in `metadata`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from communa.connectors.base import MessageKind

MAX_EVENTS = 1000
ID_LENGTH = 255  # external ids are stored in 255-character columns


class WebhookModel(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


def _web_url(value: str) -> str:
    if not value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ValueError("must be an http:// or https:// URL") from exc
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value


class WebhookAuthor(WebhookModel):
    id: str = Field(min_length=1, max_length=ID_LENGTH)
    name: str = ""
    handle: str = ""
    email: str = ""
    url: str = ""
    is_bot: bool = False

    _check_url = field_validator("url")(_web_url)


class WebhookEvent(WebhookModel):
    id: str = Field(min_length=1, max_length=ID_LENGTH)
    kind: MessageKind = MessageKind.CHAT
    text: str = ""
    title: str = ""
    created_at: AwareDatetime
    author: WebhookAuthor | None = None
    thread_id: str = Field(default="", max_length=ID_LENGTH)
    parent_id: str = Field(default="", max_length=ID_LENGTH)
    url: str = ""
    language: str = Field(default="", max_length=12)
    metadata: dict[str, Any] = Field(default_factory=dict)

    _check_url = field_validator("url")(_web_url)


class WebhookBatch(WebhookModel):
    events: list[WebhookEvent] = Field(min_length=1, max_length=MAX_EVENTS)
