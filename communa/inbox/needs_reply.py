"""Needs-reply: which questions are still waiting, who answered the others, and escalation.

A question (MessageSignals.is_question, the model's decision or a moderator's correction) in a conversation is
answered by the first message after it that is either
- the brand's (a staff member, the brand's own account, a reply sent through the outbox): answered_by "staff";
- another member's message that is not itself a question: answered_by "member", credited to that member
  (`answerer_member`), and the conversation is marked answered by the community.
A member never answers their own question. A question nobody answered within the workspace's
`escalate_after_minutes` (default 60) while its conversation is open is escalated once: `question.escalated`
is emitted and the conversation's priority rises. Both are domain events (see /work/contracts.md) that the
member-to-member health metrics consume.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from communa.inbox.models import Activity, Conversation, ConversationMessage, InboxSettings


def answer_questions(
    conversation: Conversation,
    *,
    at: datetime,
    answered_by: str,
    answerer_member_id: int | None,
    answer_message_id: int | None,
    exclude_member_id: int | None,
) -> int:
    """Mark the conversation's unanswered questions asked before `at` as answered; emit question.answered for
    each (once: conditional UPDATE). Returns how many."""
    from communa.inbox.services import activity, emit_event, utc_iso

    waiting = ConversationMessage.objects.filter(
        conversation=conversation, is_question=True, answered_at=None, created_at__lte=at
    ).select_related("message")
    if exclude_member_id is not None:
        waiting = waiting.exclude(message__member_id=exclude_member_id)
    answered = 0
    for item in waiting.order_by("created_at", "id"):
        if answer_message_id is not None and item.message_id == answer_message_id:
            continue
        done = ConversationMessage.objects.filter(pk=item.pk, answered_at=None).update(
            answered_at=at,
            answered_by=answered_by,
            answer_message_id=answer_message_id,
            answerer_member_id=answerer_member_id,
        )
        if not done:
            continue
        answered += 1
        emit_event(
            conversation,
            "question.answered",
            message_id=item.message_id,
            at=utc_iso(at),
            seconds=max(0, int((at - item.created_at).total_seconds())),
            answered_by=answered_by,
            answerer_member_id=answerer_member_id,
        )
    if answered and answered_by == "member" and not conversation.answered_by_community:
        conversation.answered_by_community = True
        activity(
            conversation,
            Activity.Kind.ANSWERED_BY_COMMUNITY,
            at=at,
            member_id=answerer_member_id,
            message_id=answer_message_id,
        )
    return answered


def escalate_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Escalate questions unanswered for longer than their workspace allows. Safe to run twice (each
    question is claimed by a conditional UPDATE on escalated_at). Returns how many were escalated."""
    from communa.inbox.services import activity, emit_event, utc_iso
    from communa.inbox.triage import refresh_priority

    now = now or timezone.now()
    candidates = ConversationMessage.objects.filter(is_question=True, answered_at=None, escalated_at=None)
    workspace_ids = sorted(set(candidates.values_list("workspace_id", flat=True).order_by()))
    minutes = dict(
        InboxSettings.objects.filter(workspace_id__in=workspace_ids).values_list(
            "workspace_id", "escalate_after_minutes"
        )
    )
    escalated = 0
    for workspace_id in workspace_ids:
        cutoff = now - timedelta(minutes=minutes.get(workspace_id, 60))
        due = list(
            candidates.filter(
                workspace_id=workspace_id, created_at__lte=cutoff, conversation__state=Conversation.State.OPEN
            ).order_by("created_at", "id")[: max(0, limit - escalated)]
        )
        for item in due:
            with transaction.atomic():
                conversation = (
                    Conversation.objects.select_for_update(of=("self",))
                    .select_related("sla_policy")
                    .get(pk=item.conversation_id)
                )
                if not ConversationMessage.objects.filter(pk=item.pk, escalated_at=None, answered_at=None).update(
                    escalated_at=now
                ):
                    continue
                escalated += 1
                if conversation.escalated_at is None:
                    conversation.escalated_at = now
                activity(conversation, Activity.Kind.ESCALATED, at=now, message_id=item.message_id)
                emit_event(conversation, "question.escalated", message_id=item.message_id, at=utc_iso(now))
                refresh_priority(conversation, now=now)
                conversation.version += 1
                conversation.save()
        if escalated >= limit:
            break
    return escalated
