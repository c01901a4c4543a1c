"""Polling a source once, and the scheduler that decides which sources are due."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from communa.connectors.base import Capability
from communa.connectors.models import Source, SourceStatus
from communa.connectors.registry import CONNECTORS, connector_class
from communa.connectors.services import (
    build_connector,
    mark_permanent_failure,
    mark_success,
    mark_transient_failure,
)
from communa.core.crypto import SecretDecryptionError
from communa.core.http import PermanentError, TransientError
from communa.ingest.services import IngestResult, ingest_events, process_pending

logger = logging.getLogger(__name__)


def poll_source(*, source_id: int) -> IngestResult | None:
    """Fetch from the stored cursor and ingest. Errors land on the source, never in a crash loop."""
    source = Source.objects.select_related("workspace").filter(pk=source_id).first()
    if source is None or source.status in {SourceStatus.PAUSED, SourceStatus.DISABLED}:
        return None
    try:
        connector = build_connector(source)
        process_pending(source=source)  # first replay anything a crash left behind
        fetched = connector.fetch(dict(source.cursor))
        result = ingest_events(source=source, events=fetched.items, cursor=fetched.cursor, connector=connector)
    except TransientError as exc:
        logger.info("source %s: retrying: %s", source_id, exc)
        mark_transient_failure(source_id=source_id, reason=str(exc), retry_after=exc.retry_after)
        return None
    except (PermanentError, SecretDecryptionError) as exc:
        logger.warning("source %s: disabled: %s", source_id, exc)
        mark_permanent_failure(source_id=source_id, reason=str(exc))
        return None
    if not _healthy_recently(source):
        mark_success(source_id=source_id)
    return result


SUCCESS_MARK_SECONDS = 10.0


def _healthy_recently(source: Source) -> bool:
    """Whether the source was active without errors at the start of this poll and marked successful within the
    last SUCCESS_MARK_SECONDS: a listener polls several times a second, and the mark is a commit each time."""
    return (
        source.status == SourceStatus.ACTIVE
        and not source.failure_count
        and not source.last_error
        and source.last_success_at is not None
        and (timezone.now() - source.last_success_at).total_seconds() < SUCCESS_MARK_SECONDS
    )


def pollable_kinds() -> list[str]:
    """Kinds the scheduler polls. Streaming kinds are followed by listeners instead (ingest.listeners)."""
    return [
        kind
        for kind in CONNECTORS
        if Capability.POLL in (caps := connector_class(kind).capabilities) and Capability.STREAM not in caps
    ]


def claim_due_sources(*, now: datetime | None = None, limit: int = 50) -> list[int]:
    """Claim sources whose poll is due; several schedulers on several machines never claim the same one.

    Each claim is a compare-and-set: `UPDATE ... SET next_poll_at = <next> WHERE id = ? AND next_poll_at =
    <what we read>`. Only one scheduler's UPDATE matches; the others see 0 rows and move on.
    """
    now = now or timezone.now()
    due = (
        Source.objects.filter(status__in=[SourceStatus.ACTIVE, SourceStatus.RETRYING], kind__in=pollable_kinds())
        .filter(Q(next_poll_at__lte=now) | Q(next_poll_at=None))
        .order_by("next_poll_at")
        .values_list("pk", "next_poll_at", "poll_interval")[:limit]
    )
    claimed: list[int] = []
    for pk, seen, interval in due:
        # Until the poll task reschedules (on success or failure), the claim itself holds the next slot.
        nxt = now + timedelta(seconds=max(interval, 10))
        won = (
            Source.objects.filter(pk=pk, next_poll_at=seen).update(next_poll_at=nxt)
            if seen
            else (Source.objects.filter(pk=pk, next_poll_at=None).update(next_poll_at=nxt))
        )
        if won:
            claimed.append(pk)
    return claimed
