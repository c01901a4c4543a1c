"""Who reacts to which domain event: one explicit, greppable table.

Each subscriber is the import path of a function taking the DomainEvent; it must be idempotent, because
a crash between running it and marking the event dispatched runs it again. Later issues add lines here
(enrichment on messages.ingested, inbox triage, analytics rollups, outbound webhooks, automations).

Two lanes (events/dispatch.py): the subscribers listed in FAST_LANE run on a dispatcher of their own, so that
what must happen within a second of a post (a rule removing it) never waits behind the others' work; every
other subscriber runs on the main lane, in the table's order.
"""

from __future__ import annotations

SUBSCRIBERS: dict[str, list[str]] = {
    "messages.ingested": [
        "communa.moderation.tasks.on_messages_ingested",  # rules that need no signals, at once (removal latency)
        "communa.enrichment.tasks.on_messages_ingested",  # language, sentiment, toxicity, spam, questions
        "communa.members.tasks.on_messages_ingested",  # member activity counters, merge suggestions
    ],
    # Signals are stored: moderation rules and inbox triage read them (their subscribers are added here).
    "messages.enriched": [
        "communa.moderation.tasks.on_messages_enriched",  # rules that read signals (fast lane)
        "communa.moderation.tasks.on_messages_enriched_followups",  # appeals quoting a code, conflict warning
        "communa.members.engagement.tasks.on_messages_enriched",  # activity, engagement score, levels, facts
        "communa.inbox.tasks.on_messages_enriched",  # inbox triage: open/update conversations, responses
    ],
    # Inbox: moderation's conflicts open conversations; the outbox's news updates inbox replies.
    "conflict.detected": ["communa.inbox.tasks.on_conflict_detected"],
    "outbox.sent": ["communa.inbox.tasks.on_outbox_event"],
    "outbox.failed": ["communa.inbox.tasks.on_outbox_event"],
    "outbox.unknown": ["communa.inbox.tasks.on_outbox_event"],
    "member.merged": ["communa.inbox.tasks.on_member_merged"],  # conversations follow their member
    "member.unmerged": ["communa.inbox.tasks.on_member_merged"],
    # Outbound webhooks (communa/webhooks/catalog.py lists what an endpoint can subscribe to).
    "conversation.created": ["communa.webhooks.tasks.on_event"],
    "conversation.assigned": ["communa.webhooks.tasks.on_event"],
    "conversation.first_response": ["communa.webhooks.tasks.on_event"],
    "conversation.resolved": ["communa.webhooks.tasks.on_event"],
    "conversation.reopened": ["communa.webhooks.tasks.on_event"],
    "sla.breached": ["communa.webhooks.tasks.on_event"],
    "question.escalated": ["communa.webhooks.tasks.on_event"],
}

# Members (engagement): a member's answer that the inbox saw close a question counts as accepted; activity
# follows its messages when members are merged or unmerged.
for _event, _subscriber in (
    ("question.answered", "on_question_answered"),
    ("member.merged", "on_member_merged"),
    ("member.unmerged", "on_member_merged"),
):
    SUBSCRIBERS.setdefault(_event, []).append(f"communa.members.engagement.tasks.{_subscriber}")

# Analytics (communa/analytics/tasks.py): rollups follow every batch, ingested and enriched (signals change what a
# message counts for); facts for response times, peer answers, moderation and lifecycle; merges recount members;
# saved and deleted segments are tracked, rebuilt or replaced.
for _event, _subscriber in (
    ("messages.ingested", "on_messages"),
    ("messages.enriched", "on_messages"),
    ("conversation.created", "on_fact_event"),
    ("conversation.first_response", "on_fact_event"),
    ("conversation.resolved", "on_fact_event"),
    ("conversation.reopened", "on_fact_event"),
    ("question.answered", "on_fact_event"),
    ("moderation.action", "on_fact_event"),
    ("member.lifecycle_changed", "on_fact_event"),
    ("member.merged", "on_member_changed"),
    ("member.unmerged", "on_member_changed"),
    ("member.erased", "on_member_changed"),
    ("segment.saved", "on_segment_event"),  # a new or redefined segment is tracked and built at once
    ("segment.deleted", "on_segment_event"),  # the next segment in line takes its place
):
    SUBSCRIBERS.setdefault(_event, []).append(f"communa.analytics.tasks.{_subscriber}")

# Moderation: the outbox's answers about its platform actions (filtered on origin "moderation.action:").
for _event in ("outbox.sent", "outbox.failed", "outbox.unknown"):
    SUBSCRIBERS.setdefault(_event, []).append("communa.moderation.tasks.on_outbox_event")

# The fast lane: subscribers whose latency people see, that stay quick (no model inference, no scans).
FAST_LANE: frozenset[str] = frozenset(
    {
        "communa.moderation.tasks.on_messages_ingested",  # text rules at ingest: send → removal p50 < 200 ms
        "communa.moderation.tasks.on_messages_enriched",  # rules that read signals: scores, flags, sentiment
    }
)
