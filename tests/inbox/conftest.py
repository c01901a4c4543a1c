"""Helpers for the inbox core tests: messages through the one ingest path, signals written as enrichment
would, triage called directly (the event dispatcher does not run inside a test transaction)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from communa.accounts.models import Workspace
from communa.connectors.models import Source
from communa.enrichment.tables import MessageSignals
from communa.events.models import DomainEvent
from communa.inbox.models import Conversation
from communa.inbox.triage import triage_messages
from communa.ingest.services import ingest_events
from communa.members.models import Member
from communa.stream.models import Message
from tests.conftest import T0, raw

NOW = T0 + timedelta(hours=1)  # triage runs an hour after T0 unless a test says otherwise


def post(
    source: Source,
    ext: str,
    author: str = "ana",
    text: str = "hello",
    minutes: int = 0,
    *,
    question: bool = False,
    sentiment: str = "neutral",
    toxic: bool = False,
    spam: bool = False,
    language: str = "",
    metadata: dict[str, Any] | None = None,
    **extra: Any,
) -> Message:
    """One message ingested on `source`, with its signals stored."""
    ingest_events(source=source, events=[raw(ext, author, text, minutes, **extra)])
    message = Message.objects.select_related("member").get(source=source, external_id=ext)
    if metadata is not None:
        message.metadata = metadata
        message.save(update_fields=["metadata"])
    MessageSignals.objects.update_or_create(
        message=message,
        defaults={
            "workspace_id": message.workspace_id,
            "language": language or "en",
            "sentiment": sentiment,
            "is_question": question,
            "is_toxic": toxic,
            "is_spam": spam,
        },
    )
    if language:
        Message.objects.filter(pk=message.pk).update(language=language)
    return message


def triage(workspace: Workspace, *messages: Message, now: datetime = NOW) -> int:
    return triage_messages(workspace_id=workspace.pk, message_ids=[m.pk for m in messages], now=now)


def staff(message: Message) -> Message:
    """Make the message's author a team member (Member.is_staff)."""
    Member.objects.filter(pk=message.member_id).update(is_staff=True)
    message.refresh_from_db()
    return message


def events(name: str) -> list[dict[str, Any]]:
    return [e.data for e in DomainEvent.objects.filter(name=name).order_by("id")]


def conversation(workspace: Workspace) -> Conversation:
    return Conversation.objects.get(workspace=workspace)


@pytest.fixture
def source(fake_source: Source) -> Source:
    return fake_source
