"""The `messages.ingested` subscriber (see events/subscribers.py) and the task it enqueues."""

from __future__ import annotations

from django_tasks import task

from communa.accounts.models import Workspace
from communa.events.models import DomainEvent
from communa.members.services import process_ingested, refresh_batch_activity


@task(queue_name="default")
def resolve_ingested_task(workspace_id: int, message_ids: list[int]) -> int:
    """Refresh the batch's members' activity and resolve its identities; safe to run twice. Returns how many
    suggestions were written."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return 0  # deleted since
    return process_ingested(workspace=workspace, message_ids=message_ids).suggested


def on_messages_ingested(event: DomainEvent) -> None:
    """Refresh the batch's members' counters at once (one set-based UPDATE for at most a batch of members,
    so a profile never shows "0 messages" while resolution waits in the queue), then enqueue resolution:
    ingest never waits for either, the dispatcher runs after its transaction committed."""
    message_ids = [int(pk) for pk in event.data.get("message_ids", [])]
    if not message_ids:
        return
    workspace = Workspace.objects.filter(pk=event.workspace_id).first()
    if workspace is not None:
        refresh_batch_activity(workspace=workspace, message_ids=message_ids)
    resolve_ingested_task.enqueue(event.workspace_id, message_ids)
