"""What the ingest path is compared with, on the same data and the same tables.

- `per_row_import`: how typical Django importers work, one row at a time with get_or_create/create.
- `raw_floor`: executemany of the final rows with every id worked out in Python beforehand: no lookups,
  no upserts, no normalization. Nothing correct can be faster, so it is the floor.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from communa.connectors.base import Connector, NormalizedMessage, RawItem
from communa.connectors.models import Source
from communa.core.bulk import chunked
from communa.ingest.models import RawEvent
from communa.members.models import Identity, Member
from communa.stream.models import Message, Thread

PAGE = 1000  # rows per transaction everywhere, like a poll page


# --- the per-row ORM importer ---------------------------------------------------------------------


def per_row_import(*, source: Source, connector: Connector, items: Sequence[RawItem]) -> None:
    now = timezone.now()
    for page in chunked(list(items), PAGE):
        with transaction.atomic():
            for item in page:
                RawEvent.objects.create(
                    source=source, external_id=item.external_id, payload=item.payload, received_at=now,
                    processed_at=now,
                )  # fmt: skip
                for message in connector.normalize(item):
                    store_one(source, message, now)


def store_one(source: Source, m: NormalizedMessage, now: datetime) -> None:
    assert m.author is not None
    ws = source.workspace_id
    identity, _ = Identity.objects.get_or_create(
        workspace_id=ws, platform=m.author.platform, external_id=m.author.external_id,
        defaults={"handle": m.author.handle, "display_name": m.author.display_name, "first_seen_at": m.created_at,
                  "last_seen_at": m.created_at},
    )  # fmt: skip
    member, _ = Member.objects.get_or_create(
        origin_identity=identity,
        defaults={"workspace_id": ws, "display_name": m.author.display_name, "first_seen_at": m.created_at,
                  "last_seen_at": m.created_at},
    )  # fmt: skip
    if identity.member_id != member.pk:
        identity.member = member
        identity.save(update_fields=["member"])
    parent = (
        Message.objects.filter(source=source, external_id=m.parent_external_id).select_related("thread").first()
        if m.parent_external_id
        else None
    )
    thread_key = m.thread_external_id or (parent.thread.external_id if parent and parent.thread else "")
    thread, created = Thread.objects.get_or_create(
        source=source, external_id=thread_key or m.external_id,
        defaults={"workspace_id": ws, "title": m.title, "started_at": m.created_at, "last_activity_at": m.created_at},
    )  # fmt: skip
    message = Message.objects.create(
        workspace_id=ws, source=source, external_id=m.external_id, kind=m.kind.value, identity=identity,
        member=member, thread=thread, parent=parent, parent_external_id=m.parent_external_id, title=m.title,
        text=m.text, language=m.language, url=m.url, created_at=m.created_at, revised_at=m.created_at,
        ingested_at=now, metadata=m.metadata,
    )  # fmt: skip
    if created:
        Thread.objects.filter(pk=thread.pk).update(root=message, message_count=1)
    else:
        Thread.objects.filter(pk=thread.pk).update(message_count=F("message_count") + 1, last_activity_at=m.created_at)


# --- the raw executemany floor --------------------------------------------------------------------


class FloorIds:
    """Primary keys handed out in Python, so the floor needs no lookups at all."""

    def __init__(self) -> None:
        self.next = {"member": 1, "identity": 1, "thread": 1, "message": 1}
        self.identities: dict[tuple[str, str], tuple[int, int]] = {}  # → (identity id, member id)
        self.threads: dict[str, int] = {}
        self.messages: dict[str, int] = {}

    def take(self, kind: str) -> int:
        value = self.next[kind]
        self.next[kind] += 1
        return value


def raw_floor(
    *, source: Source, items: Sequence[RawItem], threads: dict[str, str], ids: FloorIds
) -> None:  # fmt: skip
    """Insert the same raw events, identities, members, threads and messages with plain executemany."""
    now = timezone.now()
    sql = floor_sql()
    for page in chunked(list(items), PAGE):
        rows = floor_rows(source, page, threads, ids, now)
        with transaction.atomic(), connection.cursor() as cursor:
            for table in ("raw", "member", "identity", "thread", "message"):
                if rows[table]:
                    cursor.executemany(sql[table], rows[table])


def floor_sql() -> dict[str, str]:
    def insert(model: Any, columns: list[str]) -> str:
        quote = connection.ops.quote_name
        names = ", ".join(quote(c) for c in columns)
        return f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"

    return {
        "raw": insert(RawEvent, ["source_id", "external_id", "payload", "received_at", "processed_at", "error"]),
        "member": insert(Member, ["id", "workspace_id", "display_name", "is_bot", "first_seen_at", "last_seen_at",
                                  "created_at"]),
        "identity": insert(Identity, ["id", "workspace_id", "platform", "external_id", "handle", "display_name",
                                      "email", "url", "is_bot", "member_id", "first_seen_at", "last_seen_at"]),
        "thread": insert(Thread, ["id", "workspace_id", "source_id", "external_id", "title", "started_at",
                                  "last_activity_at", "message_count"]),
        "message": insert(Message, ["id", "workspace_id", "source_id", "external_id", "kind", "identity_id",
                                    "member_id", "thread_id", "parent_external_id", "parent_id", "title", "text",
                                    "language", "url", "created_at", "revised_at", "ingested_at", "metadata"]),
    }  # fmt: skip


def floor_rows(
    source: Source, page: Sequence[RawItem], threads: dict[str, str], ids: FloorIds, now: datetime
) -> dict[str, list[tuple[Any, ...]]]:
    ws = source.workspace_id
    rows: dict[str, list[tuple[Any, ...]]] = {"raw": [], "member": [], "identity": [], "thread": [], "message": []}
    for item in page:
        p = item.payload
        at = datetime.fromisoformat(p["at"])
        rows["raw"].append((source.pk, item.external_id, json.dumps(p), now, now, ""))
        key = (p["platform"], p["author"])
        if key not in ids.identities:
            member_id, identity_id = ids.take("member"), ids.take("identity")
            ids.identities[key] = (identity_id, member_id)
            rows["member"].append((member_id, ws, p["name"], False, at, at, now))
            rows["identity"].append((identity_id, ws, p["platform"], p["author"], p["handle"], p["name"], "", "",
                                     False, member_id, at, at))  # fmt: skip
        identity_id, member_id = ids.identities[key]
        root = threads[p["id"]]
        if root not in ids.threads:
            ids.threads[root] = ids.take("thread")
            rows["thread"].append((ids.threads[root], ws, source.pk, root, p["title"], at, at, 0))
        message_id = ids.messages[p["id"]] = ids.take("message")
        rows["message"].append((
            message_id, ws, source.pk, p["id"], p["kind"], identity_id, member_id, ids.threads[root], p["parent"],
            ids.messages.get(p["parent"]), p["title"], p["text"], p["lang"], p["url"], at, at, now,
            json.dumps(p["meta"]),
        ))  # fmt: skip
    return rows
