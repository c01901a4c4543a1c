"""Moderation's subscribers, tasks and periodic jobs (listed in events/subscribers.py and events/periodic.py).

`on_messages_enriched` evaluates the rules inline: it already runs in a worker (the event dispatcher), and
every extra queue hop would add to the time between a post and its removal. A failure there is logged and
handed to `evaluate_task`, which retries the same (idempotent) work; the event stream never stops for it.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django_tasks import task

from communa.events.models import DomainEvent

logger = logging.getLogger(__name__)


@task(queue_name="default")
def evaluate_task(workspace_id: int, message_ids: list[int]) -> int:
    from communa.moderation.appeal_mail import appeals_in
    from communa.moderation.conflict import check_messages
    from communa.moderation.live import evaluate_batch

    made = evaluate_batch(workspace_id=workspace_id, message_ids=message_ids)
    appeals_in(workspace_id=workspace_id, message_ids=message_ids)
    check_messages(workspace_id=workspace_id, message_ids=message_ids)
    return made


def on_messages_enriched(event: DomainEvent) -> None:
    """Rules, email/DM appeals and the conflict early warning for a batch whose signals are stored."""
    from communa.moderation.appeal_mail import appeals_in
    from communa.moderation.conflict import check_messages
    from communa.moderation.live import evaluate_batch

    message_ids = [int(pk) for pk in event.data.get("message_ids", [])]
    if not message_ids:
        return
    try:
        with transaction.atomic():
            evaluate_batch(workspace_id=event.workspace_id, message_ids=message_ids)
            appeals_in(workspace_id=event.workspace_id, message_ids=message_ids)
            check_messages(workspace_id=event.workspace_id, message_ids=message_ids)
    except Exception:
        logger.exception("moderation: evaluating %d messages failed; retrying in a task", len(message_ids))
        evaluate_task.enqueue(event.workspace_id, message_ids)


def on_messages_ingested(event: DomainEvent) -> None:
    """The rules that need no signals (words, patterns, member facts, rates), at once: a removal does not wait
    for the language models. Skipped when enrichment is off (messages.enriched follows immediately then)."""
    from django.conf import settings

    from communa.moderation.live import evaluate_batch

    message_ids = [int(pk) for pk in event.data.get("message_ids", [])]
    if not message_ids or not settings.ENRICHMENT["ENABLED"]:
        return
    try:
        with transaction.atomic():
            evaluate_batch(workspace_id=event.workspace_id, message_ids=message_ids, early=True)
    except Exception:
        # Nothing is lost: every rule runs again after enrichment, in on_messages_enriched.
        logger.exception("moderation: early evaluation of %d messages failed", len(message_ids))


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
