"""Moderation's subscribers, tasks and periodic jobs (listed in events/subscribers.py and events/periodic.py).

The rules run inline, on the event dispatcher's fast lane (`on_messages_ingested`, `on_messages_enriched`):
every extra queue hop would add to the time between a post and its removal. A failure there is logged and
handed to `evaluate_task`, which retries the same (idempotent) work; the event stream never stops for it.
Appeals quoting a code and the conflict early warning are not urgent: they run on the main lane.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django_tasks import task

from communa.events.models import DomainEvent

logger = logging.getLogger(__name__)


@task(queue_name="default")
def evaluate_task(workspace_id: int, message_ids: list[int], early: bool = False, late: bool = False) -> int:
    """Retry a rules pass that failed inline (same arguments as live.evaluate_batch)."""
    from communa.moderation.live import evaluate_batch

    return evaluate_batch(workspace_id=workspace_id, message_ids=message_ids, early=early, late=late)


@task(queue_name="default")
def followups_task(workspace_id: int, message_ids: list[int]) -> None:
    from communa.moderation.appeal_mail import appeals_in
    from communa.moderation.conflict import check_messages

    appeals_in(workspace_id=workspace_id, message_ids=message_ids)
    check_messages(workspace_id=workspace_id, message_ids=message_ids)


def _rules(event: DomainEvent, *, early: bool = False, late: bool = False) -> None:
    from communa.moderation.live import evaluate_batch

    message_ids = [int(pk) for pk in event.data.get("message_ids", [])]
    if not message_ids:
        return
    try:
        evaluate_batch(workspace_id=event.workspace_id, message_ids=message_ids, early=early, late=late)  # a savepoint
    except Exception:
        logger.exception("moderation: evaluating %d messages failed; retrying in a task", len(message_ids))
        evaluate_task.enqueue(event.workspace_id, message_ids, early, late)


def on_messages_ingested(event: DomainEvent) -> None:
    """Fast lane, right after ingest. With enrichment on: the rules that need no signals (words, patterns, member
    facts, rates), so a removal does not wait for the language models. With enrichment off: every rule (there are
    no signals to wait for), so a removal does not wait for the main lane either, which is what re-emits the
    batch as `messages.enriched` then."""
    _rules(event, early=bool(settings.ENRICHMENT["ENABLED"]))


def on_messages_enriched(event: DomainEvent) -> None:
    """Fast lane: the rules that read signals (scores, flags, sentiment, language). Nothing with enrichment off:
    the ingest pass ran every rule. A rule set enabled between the two passes applies its text rules from the
    next message on."""
    if settings.ENRICHMENT["ENABLED"]:
        _rules(event, late=True)


def on_messages_enriched_followups(event: DomainEvent) -> None:
    """Main lane: appeals sent by email or DM quoting a code, and the conflict early warning."""
    from communa.moderation.appeal_mail import appeals_in
    from communa.moderation.conflict import check_messages

    message_ids = [int(pk) for pk in event.data.get("message_ids", [])]
    if not message_ids:
        return
    try:
        with transaction.atomic():
            appeals_in(workspace_id=event.workspace_id, message_ids=message_ids)
            check_messages(workspace_id=event.workspace_id, message_ids=message_ids)
    except Exception:
        logger.exception("moderation: appeals/conflicts for %d messages failed; retrying in a task", len(message_ids))
        followups_task.enqueue(event.workspace_id, message_ids)


def on_outbox_event(event: DomainEvent) -> None:
    """outbox.sent / failed / unknown: update our action when the item is ours (origin moderation.action:<id>)."""
    from communa.moderation.actions import ORIGIN_PREFIX
    from communa.moderation.services import record_outbox_outcome

    origin = str(event.data.get("origin", ""))
    if not origin.startswith(ORIGIN_PREFIX):
        return
    raw = origin.removeprefix(ORIGIN_PREFIX)
    if not raw.isdigit():
        return
    record_outbox_outcome(
        action_id=int(raw), state=event.name.removeprefix("outbox."), error=str(event.data.get("error") or "")
    )


def lift_expired() -> None:
    """Periodic: timed mutes and bans that ran out get their unmute / unban enqueued in the outbox."""
    from communa.moderation.services import lift_expired_mutes

    lift_expired_mutes()
