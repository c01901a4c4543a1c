"""Conversations for engagement tests: threads with replies and reactions, ingested through the import
connector like any platform's messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from communa.accounts.models import Workspace
from communa.connectors.base import RawItem
from communa.ingest.services import ingest_events
from communa.members.engagement import services
from communa.members.models import Identity, Member
from communa.stream.models import Message
from tests.members.conftest import source_for

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def row(
    msg_id: str,
    author: str,
    text: str,
    at: datetime,
    *,
    thread: str = "",
    parent: str = "",
    kind: str = "post",
    language: str = "en",
    email: str = "",
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": msg_id,
        "created_at": at.isoformat(),
        "author_id": author,
        "author_name": author.title(),
        "author_handle": author,
        "author_email": email,
        "text": text,
        "kind": kind,
        "thread_id": thread,
        "parent_id": parent,
        "language": language,
        "metadata": metadata or {},
    }


def ingest(workspace: Workspace, platform: str, rows: list[dict[str, Any]]) -> list[int]:
    result = ingest_events(
        source=source_for(workspace, platform), events=[RawItem(external_id=r["id"], payload=r) for r in rows]
    )
    return list(result.message_ids)


def member(workspace: Workspace, platform: str, author: str) -> Member:
    identity = Identity.objects.get(workspace=workspace, platform=platform, external_id=author)
    return Member.objects.get(pk=identity.member_id)


def process(workspace: Workspace, now: datetime) -> set[int]:
    """What the messages.enriched subscriber's task does, for every message of the workspace."""
    ids = list(Message.objects.filter(workspace=workspace).values_list("id", flat=True))
    members = services.record_activity(workspace=workspace, message_ids=ids)
    services.refresh_engagement(workspace=workspace, member_ids=members, now=now)
    services.refresh_facts(workspace=workspace, member_ids=members, now=now)
    return members


def later(start: datetime, **delta: float) -> datetime:
    return start + timedelta(**delta)
