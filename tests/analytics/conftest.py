"""Analytics fixtures: a small community ingested through the real ingest path, with signals set by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from communa.accounts.models import Workspace
from communa.connectors.base import RawItem
from communa.connectors.models import Source
from communa.enrichment.tables import MessageSignals
from communa.ingest.services import ingest_events
from communa.members.models import Member
from communa.stream.models import Message


def item(ext: str, author: str, at: datetime, **extra: Any) -> RawItem:
    return RawItem(
        external_id=ext,
        payload={"id": ext, "author": author, "text": extra.pop("text", "hello"), "at": at.isoformat(), **extra},
    )


def ingest(source: Source, items: list[RawItem]) -> list[int]:
    ingest_events(source=source, events=items)
    exts = [i.external_id for i in items]
    return list(Message.objects.filter(source=source, external_id__in=exts).values_list("id", flat=True))


def signal(source: Source, ext: str, **values: Any) -> None:
    message = Message.objects.get(source=source, external_id=ext)
    MessageSignals.objects.update_or_create(message=message, defaults={"workspace_id": message.workspace_id, **values})


def member(workspace: Workspace, name: str) -> Member:
    return Member.objects.get(workspace=workspace, identities__external_id=name)


@pytest.fixture
def ingest_into() -> Callable[[Source, list[RawItem]], list[int]]:
    return ingest


def d(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)
