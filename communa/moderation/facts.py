"""MessageFacts from the database: what the rules know about a message and its author (see rules/facts.py).

Built set-based for a batch: one query for the messages with their signals, identity, member and source, one
for the members' first messages, one for active strikes. The backtest streams history through the same code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime

from django.db.models import Min
from django.utils import timezone

from communa.connectors.base import MessageKind
from communa.moderation.actions import channel_of
from communa.moderation.rules.facts import MessageFacts, signals_from
from communa.moderation.selectors import active_strike_counts
from communa.stream.models import Message

# What people write; joins, leaves and reactions are not checked by rules.
CHECKED_KINDS = [
    MessageKind.POST,
    MessageKind.COMMENT,
    MessageKind.CHAT,
    MessageKind.EMAIL,
    MessageKind.ARTICLE,
    MessageKind.OTHER,
]
MENTION = re.compile(r"(?<![\w@])@[\w.\-]{2,}(?::[\w.\-]+)?")
STREAM_CHUNK = 2000


def mentions_in(message: Message) -> int:
    """People a message mentions: the platform's own list when it gives one, else @handles in the text."""
    listed = (message.metadata or {}).get("mentions")
    if isinstance(listed, list):
        return len(listed)
    return len(set(MENTION.findall(message.text or "")))


def _query(workspace_id: int) -> object:
    return (
        Message.objects.filter(workspace_id=workspace_id, kind__in=CHECKED_KINDS, deleted_at__isnull=True)
        .select_related("source", "identity", "member", "signals")
        .only(
            "id",
            "workspace_id",
            "text",
            "title",
            "created_at",
            "language",
            "metadata",
            "kind",
            "external_id",
            "source__id",
            "source__kind",
            "source__name",
            "source__workspace_id",  # the outbox checks it: no deferred load per removal
            "identity__id",
            "identity__first_seen_at",
            "identity__is_bot",
            "identity__external_id",
            "identity__display_name",
            "identity__handle",
            "member__id",
            "member__is_staff",
            "member__is_bot",
            "member__first_seen_at",
            "thread_id",
            "parent_id",
            "member_id",
            "identity_id",
            "source_id",
            "signals",
        )
    )


def facts_for(
    messages: Sequence[Message],
    *,
    workspace_id: int,
    now: datetime | None = None,
    first_seen: dict[int, datetime] | None = None,
) -> list[MessageFacts]:
    """One MessageFacts per message, in the same order."""
    now = now or timezone.now()
    member_ids = sorted({m.member_id for m in messages if m.member_id is not None})
    if first_seen is None:
        # Live: the member's first sighting (kept by ingest as the widest window), no query.
        first_seen = {
            m.member.pk: m.member.first_seen_at for m in messages if m.member is not None and m.member.first_seen_at
        }
    strikes = active_strike_counts(workspace_id=workspace_id, member_ids=member_ids, now=now)
    return [_facts(m, first_seen, strikes) for m in messages]


def _facts(message: Message, first_seen: dict[int, datetime], strikes: dict[int, int]) -> MessageFacts:
    try:
        row = message.signals
    except Message.signals.RelatedObjectDoesNotExist:
        row = None
    signals, flags, sentiment = signals_from(row)
    identity = message.identity
    member = message.member
    account_age = None
    if identity is not None and identity.first_seen_at is not None:
        account_age = max((message.created_at - identity.first_seen_at).total_seconds(), 0.0) / 86400
    first = first_seen.get(message.member_id) if message.member_id is not None else None
    language = (row.language if row is not None and row.language else "") or message.language
    text = message.text if not message.title else f"{message.title}\n{message.text}"
    return MessageFacts(
        message_id=message.pk,
        text=text,
        created_at=message.created_at,
        member_id=message.member_id,
        language=language,
        signals=signals,
        flags=flags,
        sentiment=sentiment,
        source_id=message.source_id,
        platform=message.source.kind,
        channel=channel_of(message),
        mentions=mentions_in(message),
        account_age_days=account_age,
        is_first_message=first is not None and message.created_at <= first,
        strikes=strikes.get(message.member_id, 0) if message.member_id is not None else 0,
        is_staff=bool(member is not None and member.is_staff),
        is_bot=bool((identity is not None and identity.is_bot) or (member is not None and member.is_bot)),
    )


def messages_for(*, workspace_id: int, message_ids: Sequence[int]) -> list[Message]:
    """The checkable messages of a batch (joins, reactions and deleted messages left out), oldest first."""
    query = _query(workspace_id).filter(pk__in=list(message_ids))  # type: ignore[attr-defined]
    return sorted(query, key=lambda m: (m.created_at, m.pk))


def history(*, workspace_id: int, since: datetime, until: datetime) -> Iterator[tuple[Message, MessageFacts]]:
    """Every checkable message in [since, until), ordered by time, with its facts: what a backtest replays.

    Keyset pages of STREAM_CHUNK on (created_at, id), so memory stays flat however long the history is.
    """
    now = timezone.now()
    first_seen: dict[int, datetime] = {}
    last: tuple[datetime, int] | None = None
    while True:
        query = _query(workspace_id).filter(created_at__gte=since, created_at__lt=until)  # type: ignore[attr-defined]
        if last is not None:
            query = query.filter(created_at__gte=last[0]).exclude(created_at=last[0], pk__lte=last[1])
        chunk = list(query.order_by("created_at", "id")[:STREAM_CHUNK])
        if not chunk:
            return
        # The first message of each member: looked up once per member, then remembered for the whole run.
        unknown = sorted({m.member_id for m in chunk if m.member_id is not None and m.member_id not in first_seen})
        if unknown:
            for row in (
                Message.objects.filter(workspace_id=workspace_id, member_id__in=unknown)
                .values("member_id")
                .annotate(first=Min("created_at"))
            ):
                first_seen[row["member_id"]] = row["first"]
        yield from zip(chunk, facts_for(chunk, workspace_id=workspace_id, now=now, first_seen=first_seen), strict=True)
        last = (chunk[-1].created_at, chunk[-1].pk)
