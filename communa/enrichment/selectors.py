"""Reads for enrichment: what the pipeline needs about messages and authors, and the corrections to learn from.

Every function takes the workspace and filters on it.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db.models import OuterRef, Subquery
from django.utils.dateparse import parse_datetime

from communa.core.bulk import chunked
from communa.enrichment.tables import MessageSignals, SignalLabel
from communa.stream.models import Message

RECENT_WINDOW = timedelta(hours=24)
RECENT_LIMIT = 2000  # the newest this many messages of the window are compared for near-duplicates
RATE_WINDOW = timedelta(hours=1)
RATE_ROWS_LIMIT = 50_000


@dataclasses.dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    workspace_id: int
    text: str
    language: str
    created_at: datetime
    member_id: int | None
    member_first_seen: datetime | None
    account_created_at: datetime | None


def messages_to_enrich(*, message_ids: Sequence[int]) -> list[MessageRow]:
    """The messages behind `message_ids` (the workspace comes with each row: a batch is one source's)."""
    rows: list[MessageRow] = []
    for chunk in chunked(list(message_ids)):
        values = Message.objects.filter(pk__in=chunk).values_list(
            "pk", "workspace_id", "title", "text", "language", "created_at", "member_id",
            "member__first_seen_at", "metadata__account_created_at", "deleted_at",
        )  # fmt: skip
        for pk, ws, title, text, language, created, member, first_seen, account, deleted in values:
            body = "" if deleted else "\n".join(part for part in (title, text) if part)
            rows.append(MessageRow(pk, ws, body, language, created, member, first_seen, _datetime(account)))
    rows.sort(key=lambda row: row.id)
    return rows


def _datetime(value: Any) -> datetime | None:
    """A platform's account creation time from message metadata (ISO 8601), when the connector provides it."""
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def posts_in_previous_hour(*, workspace_id: int, rows: Sequence[MessageRow]) -> dict[int, int]:
    """Message id → how many messages its author posted in the hour before it (in this workspace)."""
    authored = [row for row in rows if row.member_id is not None]
    if not authored:
        return {}
    since = min(row.created_at for row in authored) - RATE_WINDOW
    until = max(row.created_at for row in authored)
    times: dict[int, list[datetime]] = defaultdict(list)
    members = sorted({row.member_id for row in authored if row.member_id is not None})
    for chunk in chunked(members):
        posted = Message.objects.filter(
            workspace_id=workspace_id, member_id__in=chunk, created_at__gte=since, created_at__lte=until
        ).values_list("member_id", "created_at")[:RATE_ROWS_LIMIT]
        for member_id, created_at in posted:
            times[member_id].append(created_at)
    return {
        row.id: sum(1 for t in times[row.member_id] if row.created_at - RATE_WINDOW <= t < row.created_at)
        for row in authored
        if row.member_id is not None
    }


@dataclasses.dataclass(frozen=True, slots=True)
class RecentRows:
    embeddings: np.ndarray[Any, np.dtype[np.int8]]  # quantised, one row per message
    authors: list[int | None]
    texts: list[str]


def recent_embeddings(
    *, workspace_id: int, version: str, since: datetime, until: datetime, exclude: Sequence[int]
) -> RecentRows:
    """The workspace's messages posted in [since, until] (the newest RECENT_LIMIT): embeddings, authors, texts."""
    rows = (
        MessageSignals.objects.filter(
            workspace_id=workspace_id,
            embedding_version=version,
            message__created_at__gte=since,
            message__created_at__lte=until,
        )
        .exclude(embedding=None)
        .order_by("-message__created_at")
        .values_list("message_id", "embedding", "message__member_id", "message__title", "message__text")[:RECENT_LIMIT]
    )
    skip = set(exclude)
    kept = [
        (bytes(embedding or b""), member, "\n".join(part for part in (title, text) if part))
        for pk, embedding, member, title, text in rows
        if pk not in skip
    ]
    if not kept:
        return RecentRows(np.zeros((0, 0), dtype=np.int8), [], [])
    width = len(kept[0][0])
    same = [row for row in kept if len(row[0]) == width]
    matrix = np.frombuffer(b"".join(data for data, _, _ in same), dtype=np.int8).reshape(-1, width)
    return RecentRows(matrix, [member for _, member, _ in same], [text for _, _, text in same])


def corrections(workspace_id: int, task: str) -> list[tuple[str, str]]:
    """(text, label) pairs people gave for `task` in the workspace: the newest label per message, messages
    still on the platform only. Labels are tables.CORRECTION_LABELS[task] ("toxic" / "not_toxic", …).

    This is what `communa models train --workspace W` fits the workspace's own heads on.
    """
    newest = SignalLabel.objects.filter(workspace_id=workspace_id, task=task, message_id=OuterRef("message_id"))
    latest = (
        SignalLabel.objects.filter(workspace_id=workspace_id, task=task)
        .filter(pk=Subquery(newest.order_by("-created_at", "-pk").values("pk")[:1]))
        .filter(message__deleted_at=None)
        .order_by("pk")
        .values_list("message__title", "message__text", "label")
    )
    pairs = []
    for title, text, label in latest:
        body = "\n".join(part for part in (title, text) if part)
        if body:
            pairs.append((body, label))
    return pairs


def signals_of(*, workspace_id: int, message_id: int) -> MessageSignals | None:
    return MessageSignals.objects.filter(workspace_id=workspace_id, pk=message_id).first()


SIMILAR_SCAN = 20_000  # the newest this many analysed messages are compared (int8 dot products: milliseconds)


def similar_messages(
    *, workspace_id: int, message_id: int, limit: int = 10, questions_only: bool = False
) -> list[tuple[int, float]]:
    """(message id, cosine similarity) of the workspace's messages closest in meaning to `message_id`, best first:
    similar past questions, near-duplicates. Empty when the message has no embedding yet."""
    own = MessageSignals.objects.filter(workspace_id=workspace_id, pk=message_id).values_list(
        "embedding", "embedding_version"
    )
    found = own.first()
    if found is None or found[0] is None:
        return []
    vector = np.frombuffer(bytes(found[0]), dtype=np.int8).astype(np.int32)
    rows = MessageSignals.objects.filter(workspace_id=workspace_id, embedding_version=found[1]).exclude(pk=message_id)
    if questions_only:
        rows = rows.filter(is_question=True)
    candidates = list(
        rows.exclude(embedding=None)
        .filter(message__deleted_at=None)
        .order_by("-message__created_at")
        .values_list("message_id", "embedding")[:SIMILAR_SCAN]
    )
    same_width = [(pk, bytes(data or b"")) for pk, data in candidates if data is not None and len(data) == len(vector)]
    if not same_width:
        return []
    matrix = np.frombuffer(b"".join(data for _, data in same_width), dtype=np.int8).reshape(-1, len(vector))
    scores = (matrix.astype(np.int32) @ vector) / (127.0 * 127.0)
    best = np.argsort(-scores, kind="stable")[:limit]
    return [(same_width[i][0], round(float(scores[i]), 3)) for i in best]
