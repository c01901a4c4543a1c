"""Thin task entry points: take ids, call one service, safe to run twice."""

from __future__ import annotations

from django_tasks import task

from communa.ingest.polling import claim_due_sources, poll_source


@task(queue_name="ingest")
def poll_source_task(source_id: int) -> int:
    result = poll_source(source_id=source_id)
    return result.messages if result else 0


def schedule_due_polls() -> int:
    """One scheduler tick: claim due sources and enqueue their polls."""
    claimed = claim_due_sources()
    for source_id in claimed:
        poll_source_task.enqueue(source_id)
    return len(claimed)
