"""Thin task entry points for the outbox: take ids, call one service, safe to run twice (the claim)."""

from __future__ import annotations

from django_tasks import task

from communa.outbox.services import deliver, sweep


@task(queue_name="default")
def deliver_task(item_id: int) -> str:
    return deliver(item_id=item_id)


def sweep_outbox() -> None:
    """Periodic (events/periodic.py): restart due items, settle unknown ones."""
    sweep()
