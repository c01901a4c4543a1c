"""The one path in: raw events → normalized messages → identities, members, threads, messages.

`ingest_events` is batch-oriented and idempotent:
1. the raw payloads are committed first (upsert on source + external id), so nothing received is lost;
2. normalization (the connector's pure function) runs outside any transaction;
3. one transaction upserts identities, members, threads and messages set-based, marks the raw events
   processed, moves the source's cursor, and writes one `messages.ingested` domain event;
4. after commit, the event dispatcher is enqueued.

A crash between 1 and 3 leaves unprocessed raw events that the next poll (same cursor) or
`process_pending` replays; replaying a batch produces the same rows.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from communa.connectors.base import Connector, NormalizedIdentity, NormalizedMessage, RawItem
from communa.connectors.models import Source
from communa.connectors.services import build_connector
from communa.core.bulk import chunked, upsert
from communa.events.services import emit
from communa.ingest.models import RawEvent
from communa.ingest.text import clean_text, safe_payload
from communa.members.models import Identity, Member
from communa.stream.models import Message, Thread

logger = logging.getLogger(__name__)

RAW_BATCH = 1000


@dataclasses.dataclass
class IngestResult:
    received: int = 0
    messages: int = 0
    created: int = 0
    failed: int = 0
    message_ids: list[int] = dataclasses.field(default_factory=list)

    def add(self, other: IngestResult) -> None:
        self.received += other.received
        self.messages += other.messages
        self.created += other.created
        self.failed += other.failed
        self.message_ids += other.message_ids


def ingest_events(
    *,
    source: Source,
    events: Sequence[RawItem],
    cursor: dict[str, Any] | None = None,
    connector: Connector | None = None,
) -> IngestResult:
    """Store, normalize and upsert `events` for `source`; move the cursor only once they are committed."""
    connector = connector or build_connector(source)
    total = IngestResult()
    batches = list(chunked(list(events), RAW_BATCH)) or [[]]
    for index, batch in enumerate(batches):
        is_last = index == len(batches) - 1
        store_raw_events(source=source, items=batch)
        total.add(_process(source=source, connector=connector, items=batch, cursor=cursor if is_last else None))
    return total


def store_raw_events(*, source: Source, items: Sequence[RawItem]) -> None:
    """Commit payloads before touching anything else. A newer payload for the same id replaces the old."""
    if not items:
        return
    now = timezone.now()
    latest = {item.external_id: item for item in items}  # the last one wins within a batch
    with transaction.atomic():
        upsert(
            RawEvent,
            columns=["source", "external_id", "payload", "received_at", "processed_at", "error"],
            rows=[(source.pk, ext, safe_payload(item.payload), now, None, "") for ext, item in latest.items()],
            conflict=["source", "external_id"],
            update=["payload", "received_at", "processed_at", "error"],
        )


def process_pending(*, source: Source, limit: int = 5000) -> IngestResult:
    """Replay raw events that were stored but never processed (a crash, a bug fixed since)."""
    rows = list(
        RawEvent.objects.filter(source=source, processed_at=None, error="")
        .order_by("received_at", "id")
        .values_list("external_id", "payload")[:limit]
    )
    connector = build_connector(source)
    total = IngestResult()
    for batch in chunked(rows, RAW_BATCH):
        items = [RawItem(external_id=ext, payload=payload) for ext, payload in batch]
        total.add(_process(source=source, connector=connector, items=items, cursor=None))
    return total


def _normalize(connector: Connector, items: Sequence[RawItem]) -> tuple[list[NormalizedMessage], dict[str, str]]:
    """Run the connector's pure normalizer; a payload it cannot read is recorded, never drops the batch."""
    messages: list[NormalizedMessage] = []
    errors: dict[str, str] = {}
    for item in items:
        try:
            messages.extend(connector.normalize(item))
        except Exception as exc:  # noqa: BLE001 — any connector bug must not lose the other items
            logger.warning("normalize failed for %s: %s", item.external_id, exc)
            errors[item.external_id] = f"{type(exc).__name__}: {exc}"[:2000]
    return messages, errors


def _process(
    *, source: Source, connector: Connector, items: Sequence[RawItem], cursor: dict[str, Any] | None
) -> IngestResult:
    messages, errors = _normalize(connector, items)
    messages = _dedupe_latest(messages)
    result = IngestResult(received=len(items), failed=len(errors))
    now = timezone.now()
    with transaction.atomic():
        if messages:
            identity_ids = _upsert_identities(source=source, messages=messages)
            member_ids = _ensure_members(identity_ids=sorted(set(identity_ids.values())), now=now)
            upserted, created = _upsert_messages(
                source=source, messages=messages, identity_ids=identity_ids, member_ids=member_ids, now=now
            )
            result.messages, result.created, result.message_ids = len(upserted), len(created), upserted
            _apply_deletions(source=source, messages=messages)
            emit(
                workspace_id=source.workspace_id,
                name="messages.ingested",
                data={"source_id": source.pk, "message_ids": upserted, "created_ids": created},
            )
        _finish_raw_events(source=source, items=items, errors=errors, now=now)
        if cursor is not None:
            Source.objects.filter(pk=source.pk).update(cursor=cursor)
            source.cursor = cursor
    return result


def _dedupe_latest(messages: list[NormalizedMessage]) -> list[NormalizedMessage]:
    """Keep one version per external id: the newest (an edit beats the original in the same batch)."""
    latest: dict[str, NormalizedMessage] = {}
    for message in messages:
        seen = latest.get(message.external_id)
        if seen is None or _revision(message) >= _revision(seen):
            latest[message.external_id] = message
    return list(latest.values())


def _revision(message: NormalizedMessage) -> datetime:
    return message.edited_at or message.created_at


# --- identities and members ----------------------------------------------------------------------


def _upsert_identities(*, source: Source, messages: Sequence[NormalizedMessage]) -> dict[tuple[str, str], int]:
    authors: dict[tuple[str, str], tuple[NormalizedIdentity, datetime, datetime]] = {}
    for message in messages:
        if message.author is None:
            continue
        key = (message.author.platform, message.author.external_id)
        seen = authors.get(key)
        first = min(seen[1], message.created_at) if seen else message.created_at
        last = max(seen[2], message.created_at) if seen else message.created_at
        authors[key] = (message.author, first, last)
    if not authors:
        return {}
    ws = source.workspace_id
    upsert(
        Identity,
        columns=[
            "workspace",
            "platform",
            "external_id",
            "handle",
            "display_name",
            "email",
            "url",
            "is_bot",
            "first_seen_at",
            "last_seen_at",
        ],
        rows=[
            (
                ws,
                a.platform,
                a.external_id,
                clean_text(a.handle, 255),
                clean_text(a.display_name, 200),
                a.email[:254],
                a.url[:500],
                a.is_bot,
                first,
                last,
            )
            for a, first, last in authors.values()
        ],
        conflict=["workspace", "platform", "external_id"],
        update=["is_bot"],
        expressions={
            # Keep what we knew when a payload omits it; keep the widest first/last seen window.
            "handle": "CASE WHEN excluded.handle <> '' THEN excluded.handle ELSE {table}.handle END",
            "display_name": "CASE WHEN excluded.display_name <> '' THEN excluded.display_name"
            " ELSE {table}.display_name END",
            "email": "CASE WHEN excluded.email <> '' THEN excluded.email ELSE {table}.email END",
            "url": "CASE WHEN excluded.url <> '' THEN excluded.url ELSE {table}.url END",
            "first_seen_at": "CASE WHEN {table}.first_seen_at IS NULL OR excluded.first_seen_at < {table}.first_seen_at"
            " THEN excluded.first_seen_at ELSE {table}.first_seen_at END",
            "last_seen_at": "CASE WHEN {table}.last_seen_at IS NULL OR excluded.last_seen_at > {table}.last_seen_at"
            " THEN excluded.last_seen_at ELSE {table}.last_seen_at END",
        },
    )
    ids: dict[tuple[str, str], int] = {}
    by_platform: dict[str, list[str]] = {}
    for platform, external_id in authors:
        by_platform.setdefault(platform, []).append(external_id)
    for platform, external_ids in by_platform.items():
        for chunk in chunked(external_ids):
            rows = Identity.objects.filter(workspace_id=ws, platform=platform, external_id__in=chunk)
            ids.update({(platform, ext): pk for pk, ext in rows.values_list("pk", "external_id")})
    return ids


def _ensure_members(*, identity_ids: Sequence[int], now: datetime) -> dict[int, int]:
    """Give every identity without a member a new one, set-based; return identity id → member id."""
    quote = connection.ops.quote_name
    member_t, identity_t = quote(Member._meta.db_table), quote(Identity._meta.db_table)
    mapping: dict[int, int] = {}
    for chunk in chunked(list(identity_ids)):
        pending = list(Identity.objects.filter(pk__in=chunk, member=None).values_list("pk", flat=True))
        if pending:
            marks = ", ".join(["%s"] * len(pending))
            created_at = Member._meta.get_field("created_at").get_db_prep_save(now, connection)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {member_t} (workspace_id, display_name, origin_identity_id, is_bot,"
                    " first_seen_at, last_seen_at, created_at)"
                    " SELECT workspace_id, COALESCE(NULLIF(display_name, ''), NULLIF(handle, ''), external_id),"
                    f" id, is_bot, first_seen_at, last_seen_at, %s FROM {identity_t}"
                    f" WHERE member_id IS NULL AND id IN ({marks})"
                    " ON CONFLICT (origin_identity_id) DO NOTHING",
                    [created_at, *pending],
                )
                cursor.execute(
                    f"UPDATE {identity_t} SET member_id = (SELECT m.id FROM {member_t} m"
                    f" WHERE m.origin_identity_id = {identity_t}.id) WHERE member_id IS NULL AND id IN ({marks})",
                    pending,
                )
        mapping.update(dict(Identity.objects.filter(pk__in=chunk).values_list("pk", "member_id")))
    return mapping


# --- threads and messages ------------------------------------------------------------------------


def _thread_keys(*, source: Source, messages: Sequence[NormalizedMessage]) -> dict[str, str]:
    """Message external id → its thread's external id (the root's id).

    A reply without an explicit thread inherits its parent's thread, looked up in the batch, then in the
    database; failing both, the parent itself is taken as the root.
    """
    in_batch = {m.external_id: m for m in messages}
    orphans = [m.parent_external_id for m in messages if m.parent_external_id and not m.thread_external_id]
    known: dict[str, str] = {}
    for chunk in chunked([p for p in set(orphans) if p not in in_batch]):
        rows = Message.objects.filter(source=source, external_id__in=chunk).values_list(
            "external_id", "thread__external_id"
        )
        known.update({ext: thread or ext for ext, thread in rows})

    def key(message: NormalizedMessage, depth: int = 0) -> str:
        if message.thread_external_id:
            return message.thread_external_id
        parent = message.parent_external_id
        if not parent:
            return message.external_id
        if parent in in_batch and depth < 50:
            return key(in_batch[parent], depth + 1)
        return known.get(parent, parent)

    return {m.external_id: key(m) for m in messages}


def _upsert_threads(*, source: Source, messages: Sequence[NormalizedMessage], keys: dict[str, str]) -> dict[str, int]:
    spans: dict[str, tuple[str, datetime, datetime]] = {}
    for m in messages:
        thread_key = keys[m.external_id]
        title = m.title if m.external_id == thread_key else ""
        seen = spans.get(thread_key)
        if seen:
            spans[thread_key] = (seen[0] or title, min(seen[1], m.created_at), max(seen[2], m.created_at))
        else:
            spans[thread_key] = (title, m.created_at, m.created_at)
    upsert(
        Thread,
        columns=["workspace", "source", "external_id", "title", "started_at", "last_activity_at", "message_count"],
        rows=[(source.workspace_id, source.pk, k, clean_text(t, 500), a, b, 0) for k, (t, a, b) in spans.items()],
        conflict=["source", "external_id"],
        expressions={
            "title": "CASE WHEN excluded.title <> '' THEN excluded.title ELSE {table}.title END",
            "started_at": "CASE WHEN excluded.started_at < {table}.started_at"
            " THEN excluded.started_at ELSE {table}.started_at END",
            "last_activity_at": "CASE WHEN excluded.last_activity_at > {table}.last_activity_at"
            " THEN excluded.last_activity_at ELSE {table}.last_activity_at END",
        },
    )
    ids: dict[str, int] = {}
    for chunk in chunked(list(spans)):
        ids.update(dict(Thread.objects.filter(source=source, external_id__in=chunk).values_list("external_id", "pk")))
    return ids


MESSAGE_COLUMNS = [
    "workspace",
    "source",
    "external_id",
    "kind",
    "identity",
    "member",
    "thread",
    "parent_external_id",
    "title",
    "text",
    "language",
    "url",
    "created_at",
    "edited_at",
    "deleted_at",
    "revised_at",
    "ingested_at",
    "metadata",
]


def _upsert_messages(
    *,
    source: Source,
    messages: Sequence[NormalizedMessage],
    identity_ids: dict[tuple[str, str], int],
    member_ids: dict[int, int],
    now: datetime,
) -> tuple[list[int], list[int]]:
    """Upsert messages; return (all ids in this batch, ids of messages that did not exist before)."""
    live = [m for m in messages if not m.deleted]
    if not live:
        return [], []
    keys = _thread_keys(source=source, messages=live)
    thread_ids = _upsert_threads(source=source, messages=live, keys=keys)
    external_ids = [m.external_id for m in live]
    existing: set[str] = set()
    for chunk in chunked(external_ids):
        existing.update(
            Message.objects.filter(source=source, external_id__in=chunk).values_list("external_id", flat=True)
        )
    rows = []
    for m in live:
        identity_id = identity_ids.get((m.author.platform, m.author.external_id)) if m.author else None
        rows.append((
            source.workspace_id, source.pk, m.external_id, m.kind.value, identity_id,
            member_ids.get(identity_id) if identity_id else None, thread_ids[keys[m.external_id]],
            m.parent_external_id, clean_text(m.title, 500), clean_text(m.text), m.language[:12], m.url[:1000],
            m.created_at, m.edited_at, None, _revision(m), now, _json_safe(m.metadata),
        ))  # fmt: skip
    upsert(
        Message,
        columns=MESSAGE_COLUMNS,
        rows=rows,
        conflict=["source", "external_id"],
        update=["kind", "identity", "member", "thread", "parent_external_id", "title", "text", "url", "edited_at",
                "revised_at", "metadata"],
        expressions={"language": "CASE WHEN excluded.language <> '' THEN excluded.language ELSE {table}.language END"},
        # Replaying an older payload never overwrites a newer edit.
        update_where="excluded.revised_at >= {table}.revised_at",
    )  # fmt: skip
    ids: dict[str, int] = {}
    for chunk in chunked(external_ids):
        ids.update(dict(Message.objects.filter(source=source, external_id__in=chunk).values_list("external_id", "pk")))
    _link_parents_and_roots(source=source, external_ids=external_ids, thread_ids=sorted(set(thread_ids.values())))
    return [ids[e] for e in external_ids], [ids[e] for e in external_ids if e not in existing]


def _link_parents_and_roots(*, source: Source, external_ids: Sequence[str], thread_ids: Sequence[int]) -> None:
    """Resolve parent links both ways (a reply may arrive before its parent) and refresh thread roots/counts."""
    quote = connection.ops.quote_name
    message_t, thread_t = quote(Message._meta.db_table), quote(Thread._meta.db_table)
    with connection.cursor() as cursor:
        for chunk in chunked(list(external_ids)):
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"UPDATE {message_t} SET parent_id = (SELECT p.id FROM {message_t} p WHERE p.source_id = %s"
                f" AND p.external_id = {message_t}.parent_external_id)"
                f" WHERE source_id = %s AND parent_external_id <> '' AND parent_id IS NULL"
                f" AND (external_id IN ({marks}) OR parent_external_id IN ({marks}))",
                [source.pk, source.pk, *chunk, *chunk],
            )
        for chunk in chunked(list(thread_ids)):
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"UPDATE {thread_t} SET"
                f" message_count = (SELECT COUNT(*) FROM {message_t} m WHERE m.thread_id = {thread_t}.id),"
                f" root_id = (SELECT m.id FROM {message_t} m WHERE m.source_id = {thread_t}.source_id"
                f" AND m.external_id = {thread_t}.external_id)"
                f" WHERE id IN ({marks})",
                chunk,
            )


def _apply_deletions(*, source: Source, messages: Sequence[NormalizedMessage]) -> None:
    """A platform-side deletion blanks the text and marks the message; the row stays for threads and audit."""
    deleted = [m for m in messages if m.deleted]
    for m in deleted:
        Message.objects.filter(source=source, external_id=m.external_id, deleted_at=None).update(
            deleted_at=_revision(m), text="", title=""
        )


def _finish_raw_events(*, source: Source, items: Iterable[RawItem], errors: dict[str, str], now: datetime) -> None:
    done = [item.external_id for item in items if item.external_id not in errors]
    for chunk in chunked(done):
        RawEvent.objects.filter(source=source, external_id__in=chunk).update(processed_at=now, error="")
    for external_id, error in errors.items():
        RawEvent.objects.filter(source=source, external_id=external_id).update(error=error)


def _json_safe(value: dict[str, Any]) -> dict[str, Any]:
    """Metadata comes from platforms: make sure it serializes (datetimes, sets) before it hits the DB."""
    try:
        json.dumps(value)
    except TypeError:
        loaded: dict[str, Any] = json.loads(json.dumps(value, default=str))
        return loaded
    return value
