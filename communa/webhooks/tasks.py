"""The domain-event subscriber, the delivery task and the retry sweep (events/subscribers.py, events/periodic.py)."""

from __future__ import annotations

from django.db import transaction
from django_tasks import task

from communa.events.models import DomainEvent
from communa.webhooks import services


@task(queue_name="default")
def deliver_webhook_task(delivery_id: int) -> str:
    """One attempt at one delivery; safe to run twice (the claim lets only a due delivery through)."""
    delivery = services.deliver(delivery_id=delivery_id)
    return delivery.state if delivery is not None else "not due"


def _enqueue(ids: list[int]) -> None:
    for pk in ids:
        deliver_webhook_task.enqueue(pk)


def on_event(event: DomainEvent) -> None:
    """Fan a domain event out to the endpoints subscribed to it; sending starts after commit."""
    ids = services.record_deliveries(event=event)
    if ids:
        transaction.on_commit(lambda: _enqueue(ids))


def retry_due() -> None:
    """Periodic: enqueue deliveries whose retry time has come (and those a dead sender let go of)."""
    _enqueue(services.due_delivery_ids())
