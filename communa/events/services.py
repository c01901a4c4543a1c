"""Domain events: written in the caller's transaction, dispatched after it commits."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from communa.events.models import DomainEvent


def emit(*, workspace_id: int, name: str, data: dict[str, Any]) -> DomainEvent:
    event = DomainEvent.objects.create(workspace_id=workspace_id, name=name, data=data)
    transaction.on_commit(_enqueue_dispatch)
    return event


def _enqueue_dispatch() -> None:
    from communa.events.tasks import dispatch_events

    dispatch_events.enqueue()
