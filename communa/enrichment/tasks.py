"""The enrichment task and the `messages.ingested` subscriber that enqueues it (see events/subscribers.py)."""

from __future__ import annotations

from django.conf import settings
from django_tasks import task

from communa.events.models import DomainEvent
from communa.events.services import emit


@task(queue_name="default")
def enrich_messages_task(message_ids: list[int]) -> int:
    """Compute and store the signals of these messages; safe to run twice (the rows come out the same)."""
    from communa.enrichment.services import enrich_messages  # the models load in the worker, on first use

    return enrich_messages(message_ids=message_ids)


def on_messages_ingested(event: DomainEvent) -> None:
    """Enqueue enrichment for a batch that was just ingested. Only enqueues: ingest never waits for models,
    and a failing model never blocks the event stream."""
    message_ids = [int(pk) for pk in event.data.get("message_ids", [])]
    if not message_ids:
        return
    if not settings.ENRICHMENT["ENABLED"]:
        # Nothing to compute: what waits for signals (moderation rules, inbox triage) runs on the bare messages.
        emit(workspace_id=event.workspace_id, name="messages.enriched", data={"message_ids": message_ids})
        return
    enrich_messages_task.enqueue(message_ids)
