"""Moderation fixtures: messages ingested through the fake connector, signals as the enrichment stores them,
a rule set saved and enabled, and helpers that run the outbox and our subscribers the way a worker does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from communa.accounts.models import User, Workspace
from communa.connectors.base import RawItem
from communa.connectors.models import Source
from communa.connectors.services import create_source
from communa.enrichment.tables import MessageSignals
from communa.events.dispatch import dispatch_pending
from communa.events.models import DomainEvent
from communa.ingest.services import ingest_events
from communa.moderation import live
from communa.moderation.models import RuleSet
from communa.moderation.services import activate_rule_set, save_rule_set
from communa.outbox import services as outbox
from communa.outbox.models import OutboxItem
from communa.stream.models import Message
from tests.conftest import FakeConfig, raw

RULES = """\
rules:
  - id: no-insults
    name: No insults
    guideline: Be kind to each other.
    when:
      words: [idiota, idiot]
    actions:
      - remove
      - warn
  - id: spam-links
    when:
      regex: 'buy\\s+cheap'
    actions:
      - queue
"""

OUR_SUBSCRIBERS = {
    "outbox.sent": ["communa.moderation.tasks.on_outbox_event"],
    "outbox.failed": ["communa.moderation.tasks.on_outbox_event"],
    "outbox.unknown": ["communa.moderation.tasks.on_outbox_event"],
}


@pytest.fixture(autouse=True)
def _fresh_live_cache() -> Iterator[None]:
    live._cache.clear()
    yield
    live._cache.clear()


def post(source: Source, ext: str, text: str, author: str = "troll", minutes: int = 0, **extra: Any) -> Message:
    ingest_events(source=source, events=[raw(ext, author=author, text=text, minutes=minutes, **extra)])
    return Message.objects.get(source=source, external_id=ext)


def signals(message: Message, *, toxicity: float | None = None, spam: float | None = None,
            sentiment: str = "") -> MessageSignals:  # fmt: skip
    row, _created = MessageSignals.objects.update_or_create(
        pk=message.pk,
        defaults={
            "workspace_id": message.workspace_id,
            "toxicity_score": toxicity,
            "is_toxic": None if toxicity is None else toxicity >= 0.5,
            "toxicity_categories": {"insult": toxicity} if toxicity is not None else None,
            "spam_score": spam,
            "is_spam": None if spam is None else spam >= 0.5,
            "sentiment": sentiment,
            "language": "it",
        },
    )
    return row


def enable(workspace: Workspace, actor: User | None, text: str = RULES, modes: dict[str, str] | None = None) -> RuleSet:
    rule_set = save_rule_set(workspace=workspace, text=text, modes=modes, actor=actor)
    activate_rule_set(workspace=workspace, rule_set=rule_set, actor=actor)
    return rule_set


def deliver_all() -> list[str]:
    """Send every pending outbox item (as the worker's deliver task would) and tell us the outcomes."""
    states = [
        outbox.deliver(item_id=pk) for pk in OutboxItem.objects.filter(state="pending").values_list("pk", flat=True)
    ]
    dispatch_pending(subscribers=OUR_SUBSCRIBERS)
    return states


def events(name: str) -> list[dict[str, Any]]:
    return [e.data for e in DomainEvent.objects.filter(name=name).order_by("id")]


@pytest.fixture
def second_source(workspace: Workspace, fake_source: Source) -> Source:
    return create_source(workspace=workspace, kind="fake", name="Second room", config=FakeConfig(), actor=None)


__all__ = ["RULES", "RawItem", "deliver_all", "enable", "events", "post", "signals"]
