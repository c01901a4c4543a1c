"""Helpers shared by the inbox page, API and suggestion tests (K=2): conversations built from ingested messages.

No tests here; the module name keeps it with the files it serves.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from communa.accounts.models import Workspace
from communa.connectors.models import Source
from communa.enrichment.pipeline import quantise
from communa.enrichment.tables import MessageSignals
from communa.inbox.models import Conversation, ConversationMessage
from communa.ingest.services import ingest_events
from communa.members.models import Member
from communa.stream.models import Message
from tests.conftest import T0, raw

VERSION = "test-encoder 1"


def unit(*values: float, width: int = 8) -> np.ndarray[Any, np.dtype[np.float32]]:
    vector = np.zeros(width, dtype=np.float32)
    vector[: len(values)] = values
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def ingest(source: Source, *items: Any) -> dict[str, Message]:
    ingest_events(source=source, events=list(items))
    ids = [item.external_id for item in items]
    return {m.external_id: m for m in Message.objects.filter(source=source, external_id__in=ids)}


def signals(message: Message, vector: np.ndarray[Any, np.dtype[np.float32]] | None, *, question: bool = True) -> None:
    MessageSignals.objects.update_or_create(
        message=message,
        defaults={
            "workspace_id": message.workspace_id,
            "embedding": quantise(vector) if vector is not None else None,
            "embedding_version": VERSION if vector is not None else "",
            "is_question": question,
            "language": message.language or "en",
        },
    )


def conversation(
    workspace: Workspace, message: Message, *, state: str = "open", priority: int = 0, **fields: Any
) -> Conversation:
    """A conversation about `message`'s thread, with the message as its (question) item."""
    made = Conversation.objects.create(
        workspace=workspace,
        key=f"thread:{message.thread_id}",
        source_id=message.source_id,
        thread_id=message.thread_id,
        member_id=message.member_id,
        first_message=message,
        last_member_message=message,
        subject=message.title,
        preview=message.text[:300],
        language=fields.pop("language", "en"),
        reason=fields.pop("reason", Conversation.Reason.QUESTION),
        state=state,
        priority=priority,
        priority_computed=priority,
        opened_at=message.created_at,
        last_message_at=message.created_at,
        last_member_message_at=message.created_at,
        waiting_since=message.created_at,
        message_count=1,
        **fields,
    )
    ConversationMessage.objects.create(
        workspace=workspace, conversation=made, message=message, role="member", created_at=message.created_at,
        is_question=True,
    )  # fmt: skip
    return made


def member_of(message: Message) -> Member:
    assert message.member is not None
    return message.member


def at(minutes: int) -> Any:
    return T0 + timedelta(minutes=minutes)


__all__ = ["VERSION", "at", "conversation", "ingest", "member_of", "raw", "signals", "unit"]
