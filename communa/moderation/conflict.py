"""Conflict early warning: threads heating up before they explode.

After each enriched batch, every thread it touched is looked at over its last WINDOW minutes (at most LOOK
messages), with four signs, each with a weight:

| sign | when | weight |
| --- | --- | --- |
| rising toxicity | the recent half's mean toxicity is ≥ 0.25 above the earlier half's, or ≥ 2 toxic messages | 0.35 |
| back-and-forth | the last 6+ messages come from just two members, alternating at least 4 times | 0.25 |
| many replies in little time | ≥ BURST messages in BURST_MINUTES | 0.20 |
| negative turn | ≥ half of the recent messages negative, after a mostly non-negative start | 0.20 |

A thread scoring ≥ THRESHOLD with at least two signs gets a ConflictAlert (shown on the queue page) and the
domain event "conflict.detected" {thread_id, source_id, message_ids, score, reasons}, which the inbox turns
into a conversation. One alert per thread per COOLDOWN.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from datetime import timedelta

from django.utils import timezone

from communa.events.services import emit
from communa.moderation.models import ConflictAlert
from communa.stream.models import Message

WINDOW = timedelta(minutes=60)
LOOK = 30
BURST = 10
BURST_MINUTES = 10
THRESHOLD = 0.5
COOLDOWN = timedelta(hours=2)
MAX_THREADS = 50


@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    """What the detector needs of one message (pure input, so the scoring is testable without a database)."""

    message_id: int
    member_id: int | None
    at_seconds: float
    toxicity: float | None
    toxic: bool
    negative: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Heat:
    score: float
    reasons: list[dict[str, str]]  # [{"code": ..., "text": ...}]


def score(points: Sequence[Point]) -> Heat:
    """The heat of a thread from its recent messages, oldest first."""
    total = 0.0
    reasons: list[dict[str, str]] = []
    if len(points) < 4:
        return Heat(0.0, [])
    half = len(points) // 2
    early, late = points[:half], points[half:]
    tox_early = [p.toxicity for p in early if p.toxicity is not None]
    tox_late = [p.toxicity for p in late if p.toxicity is not None]
    toxic_count = sum(1 for p in late if p.toxic)
    mean_early = sum(tox_early) / len(tox_early) if tox_early else 0.0
    mean_late = sum(tox_late) / len(tox_late) if tox_late else 0.0
    if (tox_late and mean_late - mean_early >= 0.25) or toxic_count >= 2:
        total += 0.35
        text = f"toxicity rising {mean_early:.2f} → {mean_late:.2f}, {toxic_count} toxic"
        reasons.append({"code": "rising_toxicity", "text": text})
    tail = points[-8:]
    members = {p.member_id for p in tail if p.member_id is not None}
    if len(tail) >= 6 and len(members) == 2:
        switches = sum(1 for a, b in itertools.pairwise(tail) if a.member_id != b.member_id)
        if switches >= 4:
            total += 0.25
            reasons.append({"code": "back_and_forth", "text": f"back-and-forth between two members ({switches} turns)"})
    last = points[-1].at_seconds
    recent = [p for p in points if last - p.at_seconds <= BURST_MINUTES * 60]
    if len(recent) >= BURST:
        total += 0.20
        reasons.append({"code": "burst", "text": f"{len(recent)} messages in {BURST_MINUTES} minutes"})
    neg_early = sum(1 for p in early if p.negative) / len(early)
    neg_late = sum(1 for p in late if p.negative) / len(late)
    if neg_late >= 0.5 and neg_early < 0.34:
        total += 0.20
        reasons.append({"code": "negative_turn", "text": f"negative turn ({neg_early:.0%} → {neg_late:.0%} negative)"})
    return Heat(round(total, 2), reasons)


def check_messages(*, workspace_id: int, message_ids: Sequence[int]) -> list[ConflictAlert]:
    """Score each thread the batch touched; raise an alert (and "conflict.detected") for the heated ones."""
    thread_ids = sorted(
        set(
            Message.objects.filter(workspace_id=workspace_id, pk__in=list(message_ids), thread_id__isnull=False)
            .values_list("thread_id", flat=True)
            .distinct()[:MAX_THREADS]
        )
    )
    now = timezone.now()
    alerts = []
    for thread_id in thread_ids:
        if ConflictAlert.objects.filter(thread_id=thread_id, created_at__gte=now - COOLDOWN).exists():
            continue
        rows = list(
            Message.objects.filter(workspace_id=workspace_id, thread_id=thread_id)
            .select_related("signals")
            .order_by("-created_at")[:LOOK]
        )
        rows.reverse()
        if not rows:
            continue
        newest = rows[-1].created_at
        rows = [m for m in rows if newest - m.created_at <= WINDOW]
        heat = score([_point(m) for m in rows])
        if heat.score < THRESHOLD or len(heat.reasons) < 2:
            continue
        ids = [m.pk for m in rows[-10:]]
        members = sorted({m.member_id for m in rows[-10:] if m.member_id is not None})
        alert = ConflictAlert.objects.create(
            workspace_id=workspace_id,
            thread_id=thread_id,
            source_id=rows[-1].source_id,
            score=heat.score,
            reasons=[r["text"] for r in heat.reasons],
            message_ids=ids,
            members=members,
        )
        emit(
            workspace_id=workspace_id,
            name="conflict.detected",
            data={
                "thread_id": thread_id,
                "source_id": rows[-1].source_id,
                "message_ids": ids,
                "score": heat.score,
                "reasons": [r["text"] for r in heat.reasons],
                "codes": [r["code"] for r in heat.reasons],
                "alert_id": alert.pk,
            },
        )
        alerts.append(alert)
    return alerts


def _point(message: Message) -> Point:
    try:
        signals = message.signals
    except Message.signals.RelatedObjectDoesNotExist:
        signals = None
    sentiment = ""
    if signals is not None:
        sentiment = signals.sentiment_corrected or signals.sentiment
    return Point(
        message_id=message.pk,
        member_id=message.member_id,
        at_seconds=message.created_at.timestamp(),
        toxicity=signals.toxicity_score if signals is not None else None,
        toxic=bool(signals is not None and signals.is_toxic),
        negative=sentiment == "negative",
    )
