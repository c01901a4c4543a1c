"""The demo community's inbox: believable conversations in every state, assigned, saved replies in 4 languages."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from communa.demo.services import build_demo
from communa.inbox.models import (
    AssignmentRule,
    Conversation,
    ConversationMessage,
    InternalNote,
    SavedReply,
    SlaPolicy,
    Team,
)
from communa.inbox.saved_replies import render

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)  # a Monday morning


@pytest.mark.slow
@pytest.mark.django_db
def test_the_demo_inbox_has_work_in_every_state() -> None:
    workspace = build_demo(seed=7, now=NOW, days=21).workspace
    conversations = Conversation.objects.filter(workspace=workspace)
    states = Counter(conversations.values_list("state", flat=True))
    assert set(states) == {"open", "pending", "snoozed", "resolved"}, states
    assert 30 <= conversations.count() <= 50
    assignees = set(conversations.exclude(assignee=None).values_list("assignee__username", flat=True))
    assert assignees == {"giulia", "lena"}
    assert conversations.filter(answered_by_community=True).exists()
    assert conversations.exclude(first_response_breached_at=None).exists()  # some breach the SLA
    assert conversations.exclude(first_response_at=None).exists()
    assert ConversationMessage.objects.filter(conversation__workspace=workspace, role="community").exists()
    assert ConversationMessage.objects.filter(conversation__workspace=workspace, role="staff").exists()
    assert set(conversations.values_list("reason", flat=True)) == {"question", "complaint", "mention"}
    assert InternalNote.objects.filter(workspace=workspace).exists()
    assert SlaPolicy.objects.filter(workspace=workspace).count() == 3
    assert AssignmentRule.objects.filter(workspace=workspace).count() == 4
    assert sorted(Team.objects.filter(workspace=workspace).values_list("name", flat=True)) == ["Support", "Volunteers"]
    shipping = SavedReply.objects.get(workspace=workspace, shortcut="shipping")
    assert sorted(shipping.variants.values_list("language", flat=True)) == ["es", "it", "ru"]
    assert render(saved_reply=shipping, conversation=None, user=None, language="it").text.startswith("Ciao")
    # Rebuilding gives the same inbox.
    again = build_demo(seed=7, now=NOW, days=21, reset=True).workspace
    assert Counter(Conversation.objects.filter(workspace=again).values_list("state", flat=True)) == states
