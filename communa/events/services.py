"""Domain events: written in the caller's transaction, dispatched after it commits."""

from __future__ import annotations

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


def _enqueue_dispatch() -> None:
    """Wake this process's dispatcher threads (a worker); without them, hand the dispatch to the task queue."""
    if wake_local():
        return
    from communa.events.tasks import dispatch_events

    dispatch_events.enqueue()
