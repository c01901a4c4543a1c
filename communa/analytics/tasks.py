"""Analytics tasks, the domain-event subscribers that enqueue them (events/subscribers.py) and the periodic
jobs (events/periodic.py). All take ids, re-read state and are safe to run twice."""

from __future__ import annotations

from django_tasks import task

from communa.accounts.models import Workspace
from communa.events.models import DomainEvent


@task(queue_name="default")
def rollup_batch_task(workspace_id: int, message_ids: list[int]) -> int:
    """Bring the rollups up to date for a batch (ingested or enriched). Returns how many facts changed."""
    from communa.analytics.rollups import apply_batch

    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return 0
    return apply_batch(workspace=workspace, message_ids=message_ids).changed


@task(queue_name="default")
def rollup_member_task(workspace_id: int, member_ids: list[int]) -> int:
    """Re-count the messages of members whose messages moved (merge, unmerge) or were erased."""
    from communa.analytics.models import MessageFact
    from communa.analytics.rollups import apply_batch
    from communa.stream.models import Message

    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return 0
    ids = set(Message.objects.filter(workspace=workspace, member_id__in=member_ids).values_list("id", flat=True))
    ids |= set(
        MessageFact.objects.filter(workspace=workspace, member_id__in=member_ids).values_list("message_id", flat=True)
    )
    return apply_batch(workspace=workspace, message_ids=sorted(ids)).changed


@task(queue_name="default")
def refresh_task() -> int:
    from communa.analytics.rollups import refresh_dirty

    return refresh_dirty()


@task(queue_name="default")
def segments_task() -> int:
    """Track new segments, rebuild changed ones, compare snapshots with the live filters (segments.py)."""
    from communa.analytics.segments import run_due

    return run_due()


@task(queue_name="default")
def segment_changed_task(workspace_id: int) -> int:
    """A segment was saved or deleted: track, rebuild or drop the workspace's segment rollups now."""
    from communa.analytics.segments import apply_changes

    workspace = Workspace.objects.filter(pk=workspace_id).first()
    return 0 if workspace is None else apply_changes(workspace=workspace)


@task(queue_name="default")
def topics_task() -> int:
    from communa.analytics.topics import refresh_dirty_topics

    return refresh_dirty_topics()


@task(queue_name="default")
def goals_task() -> int:
    from communa.analytics.goals import check_goals

    return check_goals()


@task(queue_name="default")
def anomalies_task(workspace_id: int) -> int:
    from communa.analytics.anomalies import detect_recent

    workspace = Workspace.objects.filter(pk=workspace_id).first()
    return 0 if workspace is None else len(detect_recent(workspace=workspace))


# ---- subscribers (events/subscribers.py) ---------------------------------------------------------------


def on_messages(event: DomainEvent) -> None:
    """messages.ingested and messages.enriched: the batch's contributions (signals change them) are recounted."""
    message_ids = [int(pk) for pk in event.data.get("message_ids", [])]
    if message_ids:
        rollup_batch_task.enqueue(event.workspace_id, message_ids)


def on_fact_event(event: DomainEvent) -> None:
    """conversation.*, question.answered, moderation.action, member.lifecycle_changed: one upsert, inline."""
    from communa.analytics.services import record_event

    workspace = Workspace.objects.filter(pk=event.workspace_id).first()
    if workspace is not None:
        record_event(workspace=workspace, name=event.name, data=dict(event.data))


def on_member_changed(event: DomainEvent) -> None:
    """member.merged / member.unmerged / member.erased: the messages of these members are recounted."""
    ids = [int(event.data[k]) for k in ("into_id", "merged_id", "member_id") if event.data.get(k)]
    if ids:
        rollup_member_task.enqueue(event.workspace_id, ids)


def on_segment_event(event: DomainEvent) -> None:
    """segment.saved / segment.deleted (members): the rollups follow without waiting for the minute's poll.
    A new name or description changes no figure, so it enqueues nothing."""
    if event.name == "segment.deleted" or event.data.get("created") or event.data.get("filter_changed"):
        segment_changed_task.enqueue(event.workspace_id)


# ---- periodic jobs (events/periodic.py): quick, no arguments, only enqueue --------------------------------


def refresh_job() -> None:
    """Every minute: distinct counts of dirty days, and segment work when there is some (segments.due): the
    15-minute membership comparison, and a safety net for segment changes whose event was not acted on."""
    from communa.analytics.models import DirtyDay
    from communa.analytics.segments import due

    if DirtyDay.objects.filter(kind=DirtyDay.Kind.ACTIVE).exists():
        refresh_task.enqueue()
    if due():
        segments_task.enqueue()


def topics_job() -> None:
    from communa.analytics.models import DirtyDay

    if DirtyDay.objects.filter(kind=DirtyDay.Kind.TOPICS).exists():
        topics_task.enqueue()


def goals_job() -> None:
    goals_task.enqueue()


def anomalies_job() -> None:
    from communa.analytics.anomalies import workspaces_with_recent_data

    for workspace_id in workspaces_with_recent_data():
        anomalies_task.enqueue(workspace_id)


def prune_job() -> None:
    from communa.analytics.rollups import prune_hourly

    prune_hourly()
