"""Conflict early warning: threads heating up before they explode.

After each enriched batch, every thread it touched is looked at over its last WINDOW (6 hours) (at most LOOK
messages), with four signs, each with a weight:

| sign | when | weight |
| --- | --- | --- |
| rising toxicity | the recent half's mean toxicity is ≥ 0.25 above the earlier half's, or ≥ 2 toxic messages | 0.35 |
| back-and-forth | two members write 5+ of the last 8 messages, alternating at least 4 times | 0.25 |
| many replies in little time | ≥ BURST messages in BURST_MINUTES | 0.20 |
| negative turn | ≥ half of the recent messages negative, after a mostly non-negative start | 0.20 |

A thread scoring ≥ THRESHOLD with at least two signs gets a ConflictAlert (shown on the queue page) and the
domain event "conflict.detected" {thread_id, source_id, message_ids, score, reasons}, which the inbox turns
into a conversation. One alert per thread per COOLDOWN.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.utils import timezone

from communa.events.services import emit
from communa.moderation.models import ConflictAlert, Decision
from communa.stream.models import Message

WINDOW = timedelta(hours=6)
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
    # The two most active voices of the last 8 messages, others (a moderator stepping in) left aside.
    tail = [p for p in points[-8:] if p.member_id is not None]
    top = [member for member, _n in collections.Counter(p.member_id for p in tail).most_common(2)]
    duel = [p for p in tail if p.member_id in top]
    if len(top) == 2 and len(duel) >= 5:
        switches = sum(1 for a, b in itertools.pairwise(duel) if a.member_id != b.member_id)
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
    # Each thread is judged as it was when the batch's newest message in it arrived (an import or a replayed
    # backlog is judged message by message, not as the thread looks today).
    anchors: dict[int, datetime] = {}
    for thread_id, at in Message.objects.filter(
        workspace_id=workspace_id, pk__in=list(message_ids), thread_id__isnull=False
    ).values_list("thread_id", "created_at"):
        anchors[thread_id] = max(at, anchors.get(thread_id, at))
    now = timezone.now()
    alerts = []
    for thread_id, anchor in sorted(anchors.items())[:MAX_THREADS]:
        if ConflictAlert.objects.filter(thread_id=thread_id, created_at__gte=now - COOLDOWN).exists():
            continue
        rows = list(
            Message.objects.filter(workspace_id=workspace_id, thread_id=thread_id, created_at__lte=anchor)
            .select_related("signals")
            .order_by("-created_at")[:LOOK]
        )
        rows.reverse()
        if not rows:
            continue
        newest = rows[-1].created_at
        rows = [m for m in rows if newest - m.created_at <= WINDOW]
        moderated = set(
            Decision.objects.filter(message_id__in=[m.pk for m in rows], live=True, reversed_at__isnull=True)
            .exclude(verdict__in=["approve", "queue", "reverse"])
            .values_list("message_id", flat=True)
        )
        heat = score([_point(m, moderated=m.pk in moderated) for m in rows])
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


def _point(message: Message, *, moderated: bool = False) -> Point:
    """A message a rule or a moderator acted on counts as toxic, whatever its score (or when there is none)."""
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
        toxicity=1.0 if moderated else (signals.toxicity_score if signals is not None else None),
        toxic=moderated or bool(signals is not None and signals.is_toxic),
        negative=sentiment == "negative",
    )
