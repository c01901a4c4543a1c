"""The periodic sweep: escalation of unanswered questions, SLA breaches once per breach, snoozes ending,
waiting points; each safe to run twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from communa.accounts.models import User, Workspace
from communa.connectors.models import Source
from communa.inbox import services
from communa.inbox.models import Activity, Conversation, ConversationMessage, InboxSettings, SlaPolicy
from communa.inbox.needs_reply import escalate_due
from communa.inbox.sla import check_breaches
from communa.inbox.tasks import sweep
from communa.inbox.triage import refresh_waiting_priorities, wake_snoozed
from tests.conftest import T0
from tests.inbox.conftest import events, post, staff, triage

pytestmark = pytest.mark.django_db


def test_an_unanswered_question_is_escalated_once(workspace: Workspace, source: Source) -> None:
    q = post(source, "m1", "ana", "Anyone?", question=True)
    triage(workspace, q, now=T0 + timedelta(minutes=1))
    assert escalate_due(now=T0 + timedelta(minutes=59)) == 0
    assert escalate_due(now=T0 + timedelta(minutes=60)) == 1
    assert escalate_due(now=T0 + timedelta(minutes=90)) == 0
    c = Conversation.objects.get()
    assert events("question.escalated") == [
        {"conversation_id": c.pk, "source_id": source.pk, "message_id": q.pk, "at": "2026-03-02T10:00:00+00:00"}
    ]
    assert c.escalated_at == T0 + timedelta(minutes=60)
    assert ConversationMessage.objects.get().escalated_at == T0 + timedelta(minutes=60)
    assert {"code": "escalated", "points": 15} in c.priority_reasons
    # Answered late, it is still answered (and counted as such).
    triage(workspace, staff(post(source, "m2", "giulia", "Sorry, yes!", 95, parent="m1")))
    assert [e["seconds"] for e in events("question.answered")] == [95 * 60]


def test_the_workspace_chooses_when_to_escalate_and_answered_or_closed_ones_never_are(
    workspace: Workspace, source: Source, manager: User
) -> None:
    InboxSettings.objects.create(workspace=workspace, escalate_after_minutes=10)
    a = post(source, "m1", "ana", "First?", question=True)
    b = post(source, "m2", "ben", "Second?", 1, question=True)
    c = post(source, "m3", "carla", "Third?", 2, question=True)
    answer = post(source, "m4", "dario", "Here is how", 3, parent="m1")
    triage(workspace, a, b, c, answer, now=T0 + timedelta(minutes=5))
    third = Conversation.objects.get(first_message=c)
    services.change_state(conversation=third, actor=manager, state="resolved", now=T0 + timedelta(minutes=6))
    assert escalate_due(now=T0 + timedelta(minutes=11)) == 1
    assert [e["message_id"] for e in events("question.escalated")] == [b.pk]


def test_first_and_next_response_breaches_are_emitted_once_each(
    workspace: Workspace, source: Source, manager: User
) -> None:
    policy = SlaPolicy.objects.create(
        workspace=workspace, name="Chat", source=source, first_response_minutes=30, next_response_minutes=15
    )
    q = post(source, "m1", "ana", "Help?", question=True)
    triage(workspace, q, now=T0 + timedelta(minutes=1))
    c = Conversation.objects.get()
    assert (c.sla_policy_id, c.first_response_due) == (policy.pk, T0 + timedelta(minutes=30))
    assert check_breaches(now=T0 + timedelta(minutes=29)) == 0
    assert check_breaches(now=T0 + timedelta(minutes=31)) == 1
    assert check_breaches(now=T0 + timedelta(minutes=40)) == 0
    assert events("sla.breached") == [
        {
            "conversation_id": c.pk,
            "source_id": source.pk,
            "policy_id": policy.pk,
            "target": "first_response",
            "at": "2026-03-02T09:31:00+00:00",
        }
    ]
    # The brand answers at 09:45; the member writes again at 10:00: the next response is due at 10:15.
    triage(workspace, staff(post(source, "m2", "giulia", "Yes", 45, parent="m1")), now=T0 + timedelta(minutes=45))
    triage(workspace, post(source, "m3", "ana", "Thanks, and?", 60, parent="m1"), now=T0 + timedelta(minutes=60))
    c.refresh_from_db()
    assert (c.first_response_due, c.next_response_due, c.waiting_since) == (
        None,
        T0 + timedelta(minutes=75),
        T0 + timedelta(minutes=60),
    )
    assert check_breaches(now=T0 + timedelta(minutes=76)) == 1
    assert check_breaches(now=T0 + timedelta(minutes=77)) == 0
    assert [e["target"] for e in events("sla.breached")] == ["first_response", "next_response"]
    assert list(Activity.objects.filter(conversation=c, kind="sla_breached").values_list("data", flat=True)) == [
        {"target": "first_response", "due": "2026-03-02T09:30:00+00:00"},
        {"target": "next_response", "due": "2026-03-02T10:15:00+00:00"},
    ]


def test_only_open_conversations_breach(workspace: Workspace, source: Source, manager: User) -> None:
    SlaPolicy.objects.create(workspace=workspace, name="Default", first_response_minutes=30)
    triage(workspace, post(source, "m1", "ana", "Help?", question=True), now=T0 + timedelta(minutes=1))
    triage(workspace, post(source, "m2", "ben", "Help me too?", 1, question=True), now=T0 + timedelta(minutes=2))
    first, second = Conversation.objects.order_by("id")
    services.change_state(conversation=first, actor=manager, state="resolved")
    services.change_state(conversation=second, actor=manager, state="pending")
    assert check_breaches(now=T0 + timedelta(hours=5)) == 0
    services.change_state(conversation=second, actor=manager, state="open")
    assert check_breaches(now=T0 + timedelta(hours=5)) == 1
    assert [e["conversation_id"] for e in events("sla.breached")] == [second.pk]


def test_snoozes_end_and_waiting_adds_points(workspace: Workspace, source: Source, manager: User) -> None:
    triage(workspace, post(source, "m1", "ana", "Help?", question=True), now=T0 + timedelta(minutes=1))
    c = Conversation.objects.get()
    assert (c.priority, c.priority_refresh_at) == (20, T0 + timedelta(minutes=30))
    assert refresh_waiting_priorities(now=T0 + timedelta(minutes=31)) == 1
    c.refresh_from_db()
    assert (c.priority, c.priority_refresh_at) == (25, T0 + timedelta(minutes=120))
    assert c.priority_reasons == [
        {"code": "reason", "points": 20, "reason": "question"},
        {"code": "waiting", "points": 5, "minutes": 31},
    ]
    assert refresh_waiting_priorities(now=T0 + timedelta(minutes=32)) == 0
    services.change_state(
        conversation=c,
        actor=manager,
        state="snoozed",
        snoozed_until=T0 + timedelta(hours=3),
        now=T0 + timedelta(hours=1),
    )
    assert wake_snoozed(now=T0 + timedelta(hours=2)) == 0
    assert wake_snoozed(now=T0 + timedelta(hours=3)) == 1
    assert wake_snoozed(now=T0 + timedelta(hours=3)) == 0
    c.refresh_from_db()
    assert (c.state, c.snoozed_until, c.priority) == ("open", None, 30)  # waited 3 h: 10 points


def test_the_sweep_runs_every_step() -> None:
    assert sweep() == {"woken": 0, "escalated": 0, "breached": 0, "reprioritized": 0}


IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": []}}


def test_the_events_reach_triage_and_the_replies(workspace: Workspace, source: Source, manager: User) -> None:
    from django.test import override_settings

    from communa.events.dispatch import dispatch_pending
    from communa.events.periodic import PERIODIC
    from communa.events.services import emit
    from communa.events.subscribers import SUBSCRIBERS

    assert "communa.inbox.tasks.on_messages_enriched" in SUBSCRIBERS["messages.enriched"]
    assert "communa.inbox.tasks.on_conflict_detected" in SUBSCRIBERS["conflict.detected"]
    assert "communa.inbox.tasks.on_outbox_event" in SUBSCRIBERS["outbox.failed"]
    assert PERIODIC["communa.inbox.tasks.periodic_sweep"] == 30.0
    from django.utils import timezone

    recent = int((timezone.now() - T0).total_seconds() // 60) - 60  # an hour ago: triage uses the real clock
    q = post(source, "m1", "ana", "Help?", question=True, minutes=recent)
    only_inbox = {name: [p for p in paths if ".inbox." in p] for name, paths in SUBSCRIBERS.items()}
    with override_settings(TASKS=IMMEDIATE):
        emit(workspace_id=workspace.pk, name="messages.enriched", data={"message_ids": [q.pk]})
        dispatch_pending(subscribers=only_inbox)
    assert Conversation.objects.filter(first_message=q).count() == 1
