"""Thin task entry points: take ids, call one service, safe to run twice."""

from __future__ import annotations

from django_tasks import task

from communa.connectors.models import Source
from communa.ingest.polling import claim_due_sources, poll_source
from communa.ingest.services import process_pending


@task(queue_name="ingest")
def poll_source_task(source_id: int) -> int:
    result = poll_source(source_id=source_id)
    return result.messages if result else 0


@task(queue_name="ingest")
def process_pending_task(source_id: int) -> int:
    source = Source.objects.filter(pk=source_id).first()
    return process_pending(source=source).messages if source else 0


def schedule_due_polls() -> int:
    """One scheduler tick: claim due sources and enqueue their polls."""
    claimed = claim_due_sources()
    for source_id in claimed:
        poll_source_task.enqueue(source_id)
    return len(claimed)
