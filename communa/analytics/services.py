"""Analytics writes: facts from domain events (inbox, moderation, members), goals, anomaly and notice state.

Fact handlers are upserts keyed by the fact's own id, so a replayed event changes nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from communa.accounts.models import User, Workspace
from communa.analytics import metrics as registry
from communa.analytics.models import (
    Anomaly,
    AnswerFact,
    ConversationFact,
    Goal,
    LifecycleFact,
    ModerationFact,
    Notice,
)
from communa.analytics.rollups import local_day, workspace_tz
from communa.audit.services import record


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        at = value
    else:
        parsed = parse_datetime(str(value))
        if parsed is None:
            return None
        at = parsed
    return at if timezone.is_aware(at) else at.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def record_event(*, workspace: Workspace, name: str, data: dict[str, Any]) -> bool:
    """Store what an inbox, moderation or members event tells analytics. Returns False for events it ignores."""
    tz = workspace_tz(workspace)
    if name.startswith("conversation."):
        return _conversation(workspace, name, data, tz)
    if name == "question.answered":
        at = _when(data.get("at")) or timezone.now()
        message_id = _int(data.get("message_id"))
        if message_id is None:
            return False
        AnswerFact.objects.update_or_create(
            workspace=workspace,
            message_id=message_id,
            defaults={
                "conversation_id": _int(data.get("conversation_id")),
                "source_id": _int(data.get("source_id")),
                "at": at,
                "day": local_day(at, tz),
                "answered_by": "member" if data.get("answered_by") == "member" else "staff",
                "answerer_member_id": _int(data.get("answerer_member_id")),
                "seconds": _int(data.get("seconds")),
            },
        )
        return True
    if name == "moderation.action":
        at = _when(data.get("at")) or timezone.now()
        decision_id = _int(data.get("decision_id"))
        if decision_id is None:
            return False
        ModerationFact.objects.update_or_create(
            workspace=workspace,
            decision_id=decision_id,
            action=str(data.get("action", ""))[:40],
            defaults={
                "source_id": _int(data.get("source_id")),
                "member_id": _int(data.get("member_id")),
                "rule": str(data.get("rule") or "")[:200],
                "automatic": bool(data.get("automatic")),
                "at": at,
                "day": local_day(at, tz),
                "seconds_to_action": _int(data.get("seconds_to_action")),
            },
        )
        return True
    if name == "member.lifecycle_changed":
        at = _when(data.get("at")) or timezone.now()
        member_id = _int(data.get("member_id"))
        if member_id is None or not data.get("to"):
            return False
        LifecycleFact.objects.get_or_create(
            workspace=workspace,
            member_id=member_id,
            at=at,
            to_state=str(data["to"])[:20],
            defaults={"from_state": str(data.get("from") or "")[:20], "day": local_day(at, tz)},
        )
        return True
    return False


def _conversation(workspace: Workspace, name: str, data: dict[str, Any], tz: Any) -> bool:
    conversation_id = _int(data.get("conversation_id"))
    if conversation_id is None:
        return False
    with transaction.atomic():
        fact, _ = ConversationFact.objects.select_for_update().get_or_create(
            workspace=workspace, conversation_id=conversation_id, defaults={"source_id": _int(data.get("source_id"))}
        )
        if name == "conversation.created":
            at = _when(data.get("opened_at")) or timezone.now()
            fact.opened_at, fact.day = at, local_day(at, tz)
        elif name == "conversation.first_response":
            if fact.first_response_at is None:  # the first one wins (a replay, a reopened conversation)
                fact.first_response_at = _when(data.get("at"))
                fact.first_response_seconds = _int(data.get("seconds"))
                fact.first_response_business_seconds = _int(data.get("business_seconds"))
        elif name == "conversation.resolved":
            fact.resolved_at = _when(data.get("at"))
            fact.resolution_business_seconds = _int(data.get("business_seconds"))
        elif name == "conversation.reopened":
            fact.resolved_at, fact.resolution_business_seconds = None, None
        else:
            return False
        if fact.day is None:
            # first_response before created (events out of order): date it by what we know until created comes
            at = fact.first_response_at or timezone.now()
            fact.day = local_day(at, tz)
        fact.save()
    return True


# ---- goals --------------------------------------------------------------------------------------------


class GoalError(ValueError):
    """A goal that cannot be set (unknown metric, deadline before start)."""


def create_goal(
    *,
    workspace: Workspace,
    actor: User | None,
    name: str,
    metric: str,
    comparison: str,
    target: float,
    deadline: date,
    start: date | None = None,
    filters: dict[str, Any] | None = None,
) -> Goal:
    from communa.analytics.goals import evaluate_goal

    if metric not in registry.BY_KEY or not registry.BY_KEY[metric].goal:
        raise GoalError(f"unknown metric {metric!r}")
    if comparison not in Goal.Comparison.values:
        raise GoalError(f"unknown comparison {comparison!r}")
    start = start or local_day(timezone.now(), workspace_tz(workspace))
    if deadline <= start:
        raise GoalError("the deadline must be after the start")
    with transaction.atomic():
        goal = Goal.objects.create(
            workspace=workspace,
            name=name.strip()[:200] or str(registry.BY_KEY[metric].label),
            metric=metric,
            comparison=comparison,
            target=float(target),
            start=start,
            deadline=deadline,
            filters=_clean_filters(filters),
            created_by=actor,
        )
        evaluate_goal(goal, set_baseline=True, alert=False)
        record(
            workspace=workspace,
            actor=actor,
            action="analytics.goal_created",
            target=goal,
            data={"metric": metric, "target": target, "comparison": comparison, "deadline": deadline.isoformat()},
        )
    return goal


def _clean_filters(filters: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("source_id", "language", "segment_id"):
        if filters and filters.get(key) not in (None, ""):
            out[key] = filters[key]
    return out


def update_goal(
    *,
    goal: Goal,
    actor: User | None,
    name: str | None = None,
    target: float | None = None,
    deadline: date | None = None,
    comparison: str | None = None,
) -> Goal:
    from communa.analytics.goals import evaluate_goal

    changes: dict[str, Any] = {}
    if name is not None:
        goal.name = name.strip()[:200] or goal.name
        changes["name"] = goal.name
    if target is not None:
        goal.target = float(target)
        changes["target"] = goal.target
    if comparison is not None:
        if comparison not in Goal.Comparison.values:
            raise GoalError(f"unknown comparison {comparison!r}")
        goal.comparison = comparison
        changes["comparison"] = comparison
    if deadline is not None:
        if deadline <= goal.start:
            raise GoalError("the deadline must be after the start")
        goal.deadline = deadline
        changes["deadline"] = deadline.isoformat()
    with transaction.atomic():
        goal.save()
        evaluate_goal(goal, alert=False)
        record(workspace=goal.workspace, actor=actor, action="analytics.goal_changed", target=goal, data=changes)
    return goal


def archive_goal(*, goal: Goal, actor: User | None) -> None:
    with transaction.atomic():
        goal.archived = True
        goal.save(update_fields=["archived"])
        record(workspace=goal.workspace, actor=actor, action="analytics.goal_archived", target=goal)


def acknowledge_anomaly(*, anomaly: Anomaly, actor: User | None) -> None:
    if anomaly.acknowledged_at is not None:
        return
    with transaction.atomic():
        anomaly.acknowledged_at, anomaly.acknowledged_by = timezone.now(), actor
        anomaly.save(update_fields=["acknowledged_at", "acknowledged_by"])
        record(workspace=anomaly.workspace, actor=actor, action="analytics.anomaly_acknowledged", target=anomaly)


def mark_notices_read(*, workspace: Workspace, notice_ids: list[int] | None = None) -> int:
    qs = Notice.objects.filter(workspace=workspace, read_at=None)
    if notice_ids is not None:
        qs = qs.filter(pk__in=notice_ids)
    return qs.update(read_at=timezone.now())
