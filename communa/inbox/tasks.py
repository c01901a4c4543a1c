"""Subscribers (see events/subscribers.py), the periodic sweep (events/periodic.py), and the tasks they
enqueue. Thin: ids in, one service call, safe to run twice."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django_tasks import task

from communa.events.models import DomainEvent


@task(queue_name="default")
def triage_task(workspace_id: int, message_ids: list[int]) -> int:
    from communa.inbox.triage import triage_messages

    return triage_messages(workspace_id=workspace_id, message_ids=message_ids)


@task(queue_name="default")
def conflict_task(workspace_id: int, data: dict[str, Any]) -> int | None:
    from communa.inbox.triage import on_conflict

    conversation = on_conflict(workspace_id=workspace_id, data=data)
    return conversation.pk if conversation else None


@task(queue_name="default")
def reply_delivery_task(name: str, data: dict[str, Any]) -> None:
    from communa.inbox.services import on_outbox_event

    on_outbox_event(name=name, data=data)


@task(queue_name="default")
def sweep_task() -> dict[str, int]:
    return sweep()


def sweep() -> dict[str, int]:
    """Wake snoozed conversations, escalate unanswered questions, record SLA breaches, add waiting points."""
    from communa.inbox.models import Composing
    from communa.inbox.needs_reply import escalate_due
    from communa.inbox.services import COMPOSING_TTL
    from communa.inbox.sla import check_breaches
    from communa.inbox.triage import refresh_waiting_priorities, wake_snoozed

    now = timezone.now()
    result = {
        "woken": wake_snoozed(now=now),
        "escalated": escalate_due(now=now),
        "breached": check_breaches(now=now),
        "reprioritized": refresh_waiting_priorities(now=now),
    }
    Composing.objects.filter(at__lt=now - COMPOSING_TTL * 30).delete()
    return result


# --- subscribers and the periodic job: only enqueue ------------------------------------------------------


def on_messages_enriched(event: DomainEvent) -> None:
    message_ids = [int(pk) for pk in event.data.get("message_ids", [])]
    if message_ids:
        triage_task.enqueue(event.workspace_id, message_ids)


def on_conflict_detected(event: DomainEvent) -> None:
    conflict_task.enqueue(event.workspace_id, dict(event.data))


def on_outbox_event(event: DomainEvent) -> None:
    if str(event.data.get("origin") or "").startswith("inbox.reply:"):
        reply_delivery_task.enqueue(event.name, dict(event.data))


def periodic_sweep() -> None:
    sweep_task.enqueue()


@task(queue_name="default")
def member_merge_task(workspace_id: int, into_id: int, merged_id: int, undone: bool) -> int:
    from communa.inbox.services import follow_member_merge

    return follow_member_merge(workspace_id=workspace_id, into_id=into_id, merged_id=merged_id, undone=undone)


def on_member_merged(event: DomainEvent) -> None:
    """member.merged / member.unmerged: conversations follow their member (the profile's past conversations)."""
    try:
        into_id, merged_id = int(event.data["into_id"]), int(event.data["merged_id"])
    except (KeyError, TypeError, ValueError):
        return
    member_merge_task.enqueue(event.workspace_id, into_id, merged_id, event.name == "member.unmerged")
