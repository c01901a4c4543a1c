"""Domain events: written in the caller's transaction, dispatched after it commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from communa.events.dispatch import has_fast_subscribers, wake_local
from communa.events.models import DomainEvent


def emit(*, workspace_id: int, name: str, data: dict[str, Any]) -> DomainEvent:
    event = DomainEvent.objects.create(
        workspace_id=workspace_id, name=name, data=data, fast_pending=has_fast_subscribers(name)
    )
    transaction.on_commit(_enqueue_dispatch)
    return event


def emit_many(*, workspace_id: int, name: str, data: Sequence[dict[str, Any]]) -> list[DomainEvent]:
    """Several events of one kind in one INSERT (a batch of decisions), in order; one wake-up after commit."""
    fast = has_fast_subscribers(name)
    events = DomainEvent.objects.bulk_create(
        [DomainEvent(workspace_id=workspace_id, name=name, data=item, fast_pending=fast) for item in data]
    )
    if events:
        transaction.on_commit(_enqueue_dispatch)
    return events


def _enqueue_dispatch() -> None:
    """Wake this process's dispatcher threads (a worker); without them, hand the dispatch to the task queue."""
    if wake_local():
        return
    from communa.events.tasks import dispatch_events

    dispatch_events.enqueue()
