"""The query layer for messages: parse a filter once, compile it to a queryset.

The stream page, the REST API (and later the inbox, listening, segments and analytics drill-downs) all use
MessageFilter, so "language=it since=2024-05-01 q=refund" means the same thing everywhere.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal

from django.db.models import Q, QuerySet
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, field_validator

from communa.accounts.models import Workspace
from communa.connectors.base import MessageKind
from communa.stream.models import Message
from communa.stream.search import text_search_q


class MessageFilter(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    source: list[int] = Field(default_factory=list)
    language: list[str] = Field(default_factory=list)
    kind: list[MessageKind] = Field(default_factory=list)
    since: date | None = None
    until: date | None = None
    q: str = Field(default="", max_length=200)
    member: int | None = None
    thread: int | None = None
    # Signals from enrichment (communa.enrichment, table MessageSignals reached as `signals`). A flag set to
    # true keeps flagged messages; false keeps the others, including messages not analysed yet.
    sentiment: list[Literal["negative", "neutral", "positive"]] = Field(default_factory=list)
    toxic: bool | None = None
    spam: bool | None = None
    question: bool | None = None

    @field_validator("language")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        return [v.lower()[:12] for v in value if v]

    def is_empty(self) -> bool:
        return self == MessageFilter()


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def filter_messages(*, workspace: Workspace, flt: MessageFilter) -> QuerySet[Message]:
    """Messages of `workspace` matching `flt`. Always scoped: the workspace is not optional."""
    qs = Message.objects.filter(workspace=workspace)
    if flt.source:
        qs = qs.filter(source_id__in=flt.source)
    if flt.language:
        qs = qs.filter(language__in=flt.language)
    if flt.kind:
        qs = qs.filter(kind__in=[k.value for k in flt.kind])
    if flt.since:
        qs = qs.filter(created_at__gte=_day_start(flt.since))
    if flt.until:
        qs = qs.filter(created_at__lt=_day_start(flt.until) + timedelta(days=1))
    if flt.member:
        qs = qs.filter(member_id=flt.member)
    if flt.thread:
        qs = qs.filter(thread_id=flt.thread)
    if flt.q:
        qs = qs.filter(text_search_q(flt.q))
    return _signal_filters(qs, flt).filter(Q(deleted_at=None))


def _signal_filters(qs: QuerySet[Message], flt: MessageFilter) -> QuerySet[Message]:
    """Joins on the enrichment table by its relation name: the stream layer imports nothing of enrichment."""
    if flt.sentiment:
        qs = qs.filter(signals__sentiment__in=flt.sentiment)
    for flag, column in ((flt.toxic, "is_toxic"), (flt.spam, "is_spam"), (flt.question, "is_question")):
        if flag is True:
            qs = qs.filter(**{f"signals__{column}": True})
        elif flag is False:
            qs = qs.exclude(**{f"signals__{column}": True})
    return qs
