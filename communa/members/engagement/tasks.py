"""Subscribers, periodic jobs and the tasks they enqueue (see events/subscribers.py and events/periodic.py).

Thin and idempotent: each task re-reads state by ids and calls one service.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from communa.accounts.models import Workspace
from communa.events.models import DomainEvent
from communa.members.engagement import keypeople, scoring, services
from communa.members.engagement.models import ActivityEvent, ActivityKind, KeyPeopleRun, MemberEngagement
from communa.members.models import Member
from communa.stream.models import Message

KEY_PEOPLE_EVERY = timedelta(hours=6)


def _workspace(workspace_id: int) -> Workspace | None:
    return Workspace.objects.filter(pk=workspace_id).first()


@task(queue_name="default")
def engagement_task(workspace_id: int, message_ids: list[int]) -> int:
    """Activity, scores and facts for a batch whose signals are stored; returns the members refreshed."""
    workspace = _workspace(workspace_id)
    if workspace is None:
        return 0
    members = services.record_activity(workspace=workspace, message_ids=message_ids)
    services.refresh_engagement(workspace=workspace, member_ids=members)
    services.refresh_facts(workspace=workspace, member_ids=members)
    return len(members)


def on_messages_enriched(event: DomainEvent) -> None:
    message_ids = [int(pk) for pk in event.data.get("message_ids", [])]
    if message_ids:
        engagement_task.enqueue(event.workspace_id, message_ids)


@task(queue_name="default")
def accepted_answer_task(workspace_id: int, question_id: int, answerer_member_id: int) -> bool:
    """Credit the answerer's first reply to the question as an accepted answer (the inbox decided it)."""
    workspace = _workspace(workspace_id)
    question = Message.objects.filter(workspace_id=workspace_id, pk=question_id).first()
    if workspace is None or question is None or question.thread_id is None:
        return False
    answer = (
        Message.objects.filter(
            workspace=workspace,
            thread_id=question.thread_id,
            member_id=answerer_member_id,
            created_at__gte=question.created_at,
        )
        .exclude(pk=question.pk)
        .exclude(kind__in=["reaction", "join", "leave"])
        .order_by("created_at", "id")
        .first()
    )
    member = Member.objects.filter(workspace=workspace, pk=answerer_member_id, is_staff=False, is_bot=False).first()
    if answer is None or member is None or question.member_id == member.pk:
        return False
    ActivityEvent.objects.get_or_create(
        workspace=workspace,
        cause_id=answer.pk,
        kind=ActivityKind.ACCEPTED_ANSWER,
        defaults={
            "member": member,
            "weight": scoring.WEIGHTS[ActivityKind.ACCEPTED_ANSWER],
            "at": answer.created_at,
            "message": answer,
            "counterpart_id": question.member_id,
            "language": answer.language,
        },
    )
    services.refresh_engagement(workspace=workspace, member_ids=[member.pk])
    return True


def on_question_answered(event: DomainEvent) -> None:
    """The inbox's "question.answered": a member's answer that closed a question counts as accepted."""
    data = event.data
    if data.get("answered_by") == "member" and data.get("answerer_member_id") and data.get("message_id"):
        accepted_answer_task.enqueue(event.workspace_id, int(data["message_id"]), int(data["answerer_member_id"]))


@task(queue_name="default")
def merged_task(workspace_id: int, member_ids: list[int]) -> None:
    workspace = _workspace(workspace_id)
    if workspace is not None:
        services.on_members_merged(workspace=workspace, member_ids=member_ids)


def on_member_merged(event: DomainEvent) -> None:
    """ "member.merged" / "member.unmerged": activity follows its messages, both members are refreshed."""
    ids = [int(event.data[k]) for k in ("into_id", "merged_id") if event.data.get(k)]
    if ids:
        merged_task.enqueue(event.workspace_id, ids)


@task(queue_name="default")
def sweep_task(workspace_id: int) -> bool:
    """Decay and quiet-member states for one workspace, a bounded slice at a time; re-enqueued until done."""
    workspace = _workspace(workspace_id)
    if workspace is None:
        return True
    result = services.sweep_engagement(workspace=workspace)
    if not result.done:
        sweep_task.enqueue(workspace_id)
    return result.done


def sweep_due() -> int:
    """Periodic: enqueue a sweep for every workspace with engagement rows due for one."""
    cutoff = timezone.now() - services.SWEEP_AFTER
    ids = sorted(
        set(MemberEngagement.objects.filter(updated_at__lt=cutoff).values_list("workspace_id", flat=True).distinct())
    )
    for workspace_id in ids:
        sweep_task.enqueue(workspace_id)
    return len(ids)


@task(queue_name="default")
def key_people_task(workspace_id: int) -> int:
    workspace = _workspace(workspace_id)
    if workspace is None:
        return 0
    return keypeople.compute_key_people(workspace=workspace).pk


def key_people_due() -> int:
    """Periodic: enqueue a key-people run for workspaces with engagement whose last run is older than 6 h."""
    recent = set(
        KeyPeopleRun.objects.filter(started_at__gte=timezone.now() - KEY_PEOPLE_EVERY).values_list(
            "workspace_id", flat=True
        )
    )
    ids = sorted(set(MemberEngagement.objects.values_list("workspace_id", flat=True).distinct()) - recent)
    for workspace_id in ids:
        key_people_task.enqueue(workspace_id)
    return len(ids)
