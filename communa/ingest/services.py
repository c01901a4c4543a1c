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
from django.db.models import F
from django.utils import timezone

from communa.connectors.base import Connector, NormalizedIdentity, NormalizedMessage, RawItem
from communa.connectors.models import Source
from communa.connectors.services import build_connector
from communa.core.bulk import JsonText, chunked, select_in, table, upsert
from communa.events.services import emit
from communa.ingest.models import RawEvent
from communa.ingest.text import clean_text, payload_json
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
            rows=[
                (source.pk, ext, JsonText(payload_json(item.payload)), now, None, "") for ext, item in latest.items()
            ],
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
        changes: dict[str, Any] = {}
        if result.created:
            changes["message_count"] = F("message_count") + result.created
        if cursor is not None:
            changes["cursor"] = cursor
            source.cursor = cursor
        if changes:
            Source.objects.filter(pk=source.pk).update(**changes)
    return result


def _dedupe_latest(messages: list[NormalizedMessage]) -> list[NormalizedMessage]:
    """Keep the newest version per external id (an edit beats the original in the same batch), and every
    deletion beside it: a message and its deletion in one batch store the row, then blank it."""
    latest: dict[str, NormalizedMessage] = {}
    deletions: dict[str, NormalizedMessage] = {}
    for message in messages:
        versions = deletions if message.deleted else latest
        seen = versions.get(message.external_id)
        if seen is None or _revision(message) >= _revision(seen):
            versions[message.external_id] = message
    return [*latest.values(), *deletions.values()]


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
        if seen is None:
            authors[key] = (message.author, message.created_at, message.created_at)
            continue
        first, last = min(seen[1], message.created_at), max(seen[2], message.created_at)
        authors[key] = (_merge_identity(seen[0], message.author), first, last)
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
    sql = (
        f"SELECT external_id, id FROM {table(Identity)}"
        " WHERE workspace_id = %s AND platform = %s AND external_id IN ({marks})"
    )
    for platform, external_ids in by_platform.items():
        rows = select_in(sql, params=[ws, platform], values=external_ids)
        ids.update({(platform, ext): pk for ext, pk in rows})
    return ids


def _merge_identity(known: NormalizedIdentity, newer: NormalizedIdentity) -> NormalizedIdentity:
    """Within a batch, what one payload omits (an email, a display name) is kept from another."""
    return dataclasses.replace(
        newer,
        handle=newer.handle or known.handle,
        display_name=newer.display_name or known.display_name,
        email=newer.email or known.email,
        url=newer.url or known.url,
    )


def _ensure_members(*, identity_ids: Sequence[int], now: datetime) -> dict[int, int]:
    """Give every identity without a member a new one, set-based; return identity id → member id."""
    member_t, identity_t = table(Member), table(Identity)
    mapping: dict[int, int] = {}
    for chunk in chunked(list(identity_ids)):
        rows = select_in(f"SELECT id, member_id FROM {identity_t} WHERE id IN ({{marks}})", values=chunk)
        pending = [pk for pk, member_id in rows if member_id is None]
        mapping.update({pk: member_id for pk, member_id in rows if member_id is not None})
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
            created = select_in(f"SELECT id, member_id FROM {identity_t} WHERE id IN ({{marks}})", values=pending)
            mapping.update(dict(created))
    return mapping


# --- threads and messages ------------------------------------------------------------------------


def _stored_parents(*, source: Source, messages: Sequence[NormalizedMessage]) -> dict[str, tuple[int, str]]:
    """Parents referenced by this batch but not in it: external id → (message id, thread external id)."""
    in_batch = {m.external_id for m in messages}
    wanted = sorted({m.parent_external_id for m in messages if m.parent_external_id} - in_batch)
    sql = (
        f"SELECT m.external_id, m.id, t.external_id FROM {table(Message)} m LEFT JOIN {table(Thread)} t"
        f" ON t.id = m.thread_id WHERE m.source_id = %s AND m.external_id IN ({{marks}})"
    )
    rows = select_in(sql, params=[source.pk], values=wanted)
    return {ext: (pk, thread or ext) for ext, pk, thread in rows}


def _thread_keys(*, messages: Sequence[NormalizedMessage], stored: dict[str, tuple[int, str]]) -> dict[str, str]:
    """Message external id → its thread's external id (the root's id).

    A reply without an explicit thread inherits its parent's thread, looked up in the batch, then among
    stored messages; failing both, the parent itself is taken as the root.
    """
    in_batch = {m.external_id: m for m in messages}

    def key(message: NormalizedMessage, depth: int = 0) -> str:
        if message.thread_external_id:
            return message.thread_external_id
        parent = message.parent_external_id
        if not parent:
            return message.external_id
        if parent in in_batch and depth < 50:
            return key(in_batch[parent], depth + 1)
        return stored[parent][1] if parent in stored else parent

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
    sql = f"SELECT external_id, id FROM {table(Thread)} WHERE source_id = %s AND external_id IN ({{marks}})"
    return dict(select_in(sql, params=[source.pk], values=list(spans)))


MESSAGE_COLUMNS = [
    "workspace", "source", "external_id", "kind", "identity", "member", "thread", "parent_external_id", "parent",
    "title", "text", "language", "url", "created_at", "edited_at", "deleted_at", "revised_at", "ingested_at",
    "metadata",
]  # fmt: skip


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
    stored = _stored_parents(source=source, messages=live)
    keys = _thread_keys(messages=live, stored=stored)
    thread_ids = _upsert_threads(source=source, messages=live, keys=keys)
    external_ids = [m.external_id for m in live]
    by_external_id = f"SELECT external_id, id FROM {table(Message)} WHERE source_id = %s AND external_id IN ({{marks}})"
    existing = {ext for ext, _ in select_in(by_external_id, params=[source.pk], values=external_ids)}
    # Oldest first, so a parent in this batch is inserted before its replies and the parent subquery below
    # finds it: one write per reply instead of an insert plus an UPDATE rewriting every index.
    live = sorted(live, key=lambda m: m.created_at)
    in_batch = set(external_ids)
    rows = []
    for m in live:
        identity_id = identity_ids.get((m.author.platform, m.author.external_id)) if m.author else None
        parent = m.parent_external_id
        parent_params = (
            stored[parent][0] if parent in stored else None,
            source.pk,
            parent if parent in in_batch else None,
        )
        rows.append((
            source.workspace_id, source.pk, m.external_id, m.kind.value, identity_id,
            member_ids.get(identity_id) if identity_id else None, thread_ids[keys[m.external_id]],
            parent, parent_params,
            clean_text(m.title, 500), clean_text(m.text), m.language[:12], m.url[:1000],
            m.created_at, m.edited_at, None, _revision(m), now, _json_safe(m.metadata),
        ))  # fmt: skip
    upsert(
        Message,
        columns=MESSAGE_COLUMNS,
        rows=rows,
        conflict=["source", "external_id"],
        update=["kind", "identity", "member", "thread", "parent_external_id", "title", "text", "url", "edited_at",
                "revised_at", "metadata"],
        expressions={
            "language": "CASE WHEN excluded.language <> '' THEN excluded.language ELSE {table}.language END",
            "parent": "COALESCE({table}.parent_id, excluded.parent_id)",
        },
        # Replaying an older payload never overwrites a newer edit.
        update_where="excluded.revised_at >= {table}.revised_at",
        values_sql={
            "parent": "COALESCE(%s, (SELECT p.id FROM {table} p WHERE p.source_id = %s AND p.external_id = %s))"
        },
    )  # fmt: skip
    ids = dict(select_in(by_external_id, params=[source.pk], values=external_ids))
    _link_parents(source=source, messages=live, ids=ids)
    _refresh_threads(thread_ids=sorted(set(thread_ids.values())))
    return [ids[e] for e in external_ids], [ids[e] for e in external_ids if e not in existing]


def _link_parents(*, source: Source, messages: Sequence[NormalizedMessage], ids: dict[str, int]) -> None:
    """Link the few replies the INSERT could not, and adopt earlier-arrived replies of this batch's messages.

    Parents already stored, and parents earlier in the batch, were linked in the INSERT itself. Orphans (a reply
    that arrived before its parent) are found through a partial index that holds only unlinked replies, so this
    stays cheap.
    """
    position = {m.external_id: i for i, m in enumerate(messages)}
    # Parents inserted earlier in the batch were linked by the INSERT; one that sorts after its reply
    # (clock skew between a platform's servers) is linked here.
    links = [
        (ids[m.parent_external_id], ids[m.external_id])
        for m in messages
        if m.parent_external_id in position and position[m.parent_external_id] > position[m.external_id]
    ]
    # The condition matches the partial index message_orphans, so only unlinked replies are probed.
    orphans = (
        f"SELECT id, parent_external_id FROM {table(Message)} WHERE source_id = %s AND parent_id IS NULL"
        f" AND parent_external_id > '' AND parent_external_id IN ({{marks}})"
    )
    links += [(ids[parent_ext], pk) for pk, parent_ext in select_in(orphans, params=[source.pk], values=sorted(ids))]
    if links:
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {table(Message)} SET parent_id = %s WHERE id = %s AND parent_id IS NULL", links)


def _refresh_threads(*, thread_ids: Sequence[int]) -> None:
    """Recount the touched threads and point each at its root message (once the root has arrived)."""
    message_t, thread_t = table(Message), table(Thread)
    with connection.cursor() as cursor:
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
