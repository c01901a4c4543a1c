"""REST API for messages: the same query layer (MessageFilter) and cursor pages as the stream page."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pydantic
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.errors import ValidationError

from communa.accounts.api import ERRORS, WorkspaceParam, api_workspace, invalid
from communa.accounts.roles import Perm
from communa.connectors.base import MessageKind
from communa.core.pagination import InvalidCursor
from communa.stream.filters import MessageFilter
from communa.stream.models import Message
from communa.stream.selectors import get_message, message_page

router = Router(tags=["messages"])

MAX_PAGE_SIZE = 200


class MessageQuery(Schema):
    """Filters (repeat `source`, `language` and `kind` to match any of several) and the page to fetch."""

    # The repeated parameters arrive as strings and are typed by MessageFilter, so that a bad value is reported
    # at ["query", "kind", 0] like every other parameter (ninja would add the schema's name to the path);
    # the documented item types stay exact.
    source: list[str] = Field(
        default_factory=list, description="Source ids.", json_schema_extra={"items": {"type": "integer"}}
    )
    language: list[str] = Field(default_factory=list, description="Language codes, e.g. `it`.")
    kind: list[str] = Field(
        default_factory=list, json_schema_extra={"items": {"type": "string", "enum": [k.value for k in MessageKind]}}
    )
    since: date | None = Field(default=None, description="First day included, in your time zone (YYYY-MM-DD).")
    until: date | None = Field(default=None, description="Last day included, in your time zone (YYYY-MM-DD).")
    q: str = Field(default="", max_length=200, description="Full-text search in the message text.")
    member: int | None = Field(default=None, description="Only this community member's messages.")
    thread: int | None = Field(default=None, description="Only this thread's messages.")
    sentiment: list[str] = Field(
        default_factory=list,
        description="Sentiment computed by Communa (or set by a moderator).",
        json_schema_extra={"items": {"type": "string", "enum": ["negative", "neutral", "positive"]}},
    )
    toxic: bool | None = Field(default=None, description="true: flagged toxic; false: not flagged (or not analysed).")
    spam: bool | None = Field(default=None, description="true: flagged spam; false: not flagged (or not analysed).")
    question: bool | None = Field(default=None, description="true: asks something that needs an answer.")
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page.")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)


class AuthorOut(Schema):
    identity_id: int
    platform: str
    handle: str
    display_name: str
    is_bot: bool


class SignalsOut(Schema):
    """What Communa understood about the message (docs/understanding.md); null fields: model not installed."""

    language: str = Field(description='Detected language; "und" when the text does not say.')
    sentiment: str | None
    sentiment_scores: dict[str, float] | None
    toxic: bool | None
    toxicity: float | None
    toxicity_categories: dict[str, float] | None
    friendly_profanity: float | None
    spam: bool | None
    spam_score: float | None
    question: bool | None
    question_score: float | None
    explanation: dict[str, list[dict[str, Any]]] = Field(description="Reasons per signal, as codes with values.")
    corrected: list[str] = Field(description="The signals a moderator set by hand.")


class MessageOut(Schema):
    id: int
    source_id: int
    kind: str
    external_id: str
    title: str
    text: str
    language: str
    url: str
    created_at: datetime
    edited_at: datetime | None
    author: AuthorOut | None
    member_id: int | None
    thread_id: int | None
    parent_id: int | None
    signals: SignalsOut | None = Field(description="Null until the message has been analysed.")


class MessageDetailOut(MessageOut):
    metadata: dict[str, Any]


class MessagePageOut(Schema):
    items: list[MessageOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null on the last page.")


def _fields(message: Message) -> dict[str, Any]:
    identity = message.identity
    author = None
    if identity is not None:
        author = AuthorOut(
            identity_id=identity.pk,
            platform=identity.platform,
            handle=identity.handle,
            display_name=identity.display_name,
            is_bot=identity.is_bot,
        )
    return {
        "id": message.pk,
        "source_id": message.source_id,
        "kind": message.kind,
        "external_id": message.external_id,
        "title": message.title,
        "text": message.text,
        "language": message.language,
        "url": message.url,
        "created_at": message.created_at,
        "edited_at": message.edited_at,
        "author": author,
        "member_id": message.member_id,
        "thread_id": message.thread_id,
        "parent_id": message.parent_id,
        "signals": _signals(message),
    }


def _signals(message: Message) -> SignalsOut | None:
    """The enrichment row loaded with the message (select_related("signals")), reached by relation name."""
    try:
        row = message.signals
    except ObjectDoesNotExist:
        return None
    by_hand = {
        "sentiment": row.sentiment_corrected,
        "toxicity": row.is_toxic_corrected,
        "spam": row.is_spam_corrected,
        "question": row.is_question_corrected,
    }
    return SignalsOut(
        language=row.language,
        sentiment=row.sentiment or None,
        sentiment_scores=row.sentiment_scores,
        toxic=row.is_toxic,
        toxicity=row.toxicity_score,
        toxicity_categories=row.toxicity_categories,
        friendly_profanity=row.friendly_profanity_score,
        spam=row.is_spam,
        spam_score=row.spam_score,
        question=row.is_question,
        question_score=row.question_score,
        explanation=row.explanation or {},
        corrected=[name for name, value in by_hand.items() if value not in ("", None)],
    )


def _message_filter(query: MessageQuery) -> MessageFilter:
    if query.since and query.until and query.since > query.until:
        raise invalid(["query", "since"], _("since is after until."))
    try:
        return MessageFilter.model_validate(query.model_dump(exclude={"cursor", "limit"}))
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        raise ValidationError(
            [{"type": e["type"], "loc": ["query", *e["loc"]], "msg": e["msg"]} for e in errors]
        ) from exc


@router.get("", response={200: MessagePageOut, **ERRORS}, summary="List messages")
def list_messages(request: Any, filters: Query[MessageQuery], workspace: WorkspaceParam = None) -> MessagePageOut:
    """Messages matching the filters, newest first, `limit` at a time. Deleted messages are left out."""
    ws = api_workspace(request, workspace, Perm.VIEW_STREAM)
    flt = _message_filter(filters)
    try:
        page = message_page(workspace=ws, flt=flt, cursor=filters.cursor, limit=filters.limit)
    except InvalidCursor as exc:
        raise invalid(["query", "cursor"], _("This cursor is not one the API returned.")) from exc
    return MessagePageOut(items=[MessageOut(**_fields(m)) for m in page.items], next_cursor=page.next_cursor)


@router.get("/{message_id}", response={200: MessageDetailOut, **ERRORS}, summary="Get a message")
def get_message_detail(request: Any, message_id: int, workspace: WorkspaceParam = None) -> MessageDetailOut:
    ws = api_workspace(request, workspace, Perm.VIEW_STREAM)
    try:
        message = get_message(workspace=ws, message_id=message_id)
    except Message.DoesNotExist as exc:
        raise Http404 from exc
    if message.deleted_at is not None:
        raise Http404  # deleted on the platform: gone from the API as from the stream
    return MessageDetailOut(**_fields(message), metadata=message.metadata)
