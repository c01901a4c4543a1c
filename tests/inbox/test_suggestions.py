"""Suggested answers: similar past questions with the answer given, and saved replies ranked by meaning."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from communa.accounts.models import Workspace
from communa.connectors.models import Source
from communa.inbox import suggestions
from communa.inbox.models import ConversationMessage, SavedReply, SavedReplyVariant
from communa.members.models import Member
from tests.inbox.test_views_fixtures import VERSION, conversation, ingest, raw, signals, unit

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(workspace: Workspace, fake_source: Source) -> dict[str, Any]:
    """Past questions about passwords (answered by staff, by a member, by nobody) and one about shipping."""
    m = ingest(
        fake_source,
        raw("q1", "ana", "How do I reset my password?", 0),
        raw("a1", "team", "Use the 'Forgot password' link on the sign-in page.", 5, parent="q1"),
        raw("q2", "ben", "I forgot my password, how can I change it?", 10),
        raw("q2b", "ben", "Anyone?", 11, parent="q2"),  # the asker again: not an answer
        raw("a2m", "cy", "Settings > Security > Change password", 12, parent="q2"),
        raw("a2s", "team", "Settings, then Security.", 14, parent="q2"),  # staff wins over the member
        raw("q3", "dan", "Password reset does not work", 20),  # nobody answered
        raw("q4", "eve", "When will my order ship?", 30),
        raw("a4", "team", "Within two days.", 31, parent="q4"),
        raw("now", "fay", "How can I reset my password please?", 60),
    )
    Member.objects.filter(identities__external_id="team").update(is_staff=True)
    vectors = {
        "q1": unit(1, 0.12), "q2": unit(1, 0.3), "q3": unit(1, 0.45), "q4": unit(0, 1),
        "now": unit(1, 0.12), "a1": unit(0.2, 0, 1), "a2m": unit(0.2, 0, 1), "a2s": unit(0.2, 0, 1),
        "a4": unit(0, 0.2, 1),
    }  # fmt: skip
    for ext, vector in vectors.items():
        signals(m[ext], vector, question=ext.startswith("q") or ext == "now")
    return m


def test_similar_answered_questions_with_their_answers(workspace: Workspace, history: dict[str, Any]) -> None:
    conv = conversation(workspace, history["now"])

    found = suggestions.suggest(conversation=conv)

    assert found.question_id == history["now"].pk
    assert [(a.question, a.answer, a.answered_by, a.answerer) for a in found.answered] == [
        ("How do I reset my password?", "Use the 'Forgot password' link on the sign-in page.", "staff", "Team"),
        ("I forgot my password, how can I change it?", "Settings, then Security.", "staff", "Team"),
    ]
    assert [a.similarity for a in found.answered] == [0.998, 0.987]
    assert found.answered[0].conversation_id is None  # answered before the inbox existed
    assert found.saved_replies == []


def test_an_answer_recorded_by_triage_wins_and_names_its_conversation(
    workspace: Workspace, history: dict[str, Any]
) -> None:
    past = conversation(workspace, history["q3"], state="resolved")
    answer = ingest(history["q3"].source, raw("a3", "cy", "Clear your cookies, then try again.", 25))["a3"]
    ConversationMessage.objects.filter(conversation=past).update(
        answered_at=answer.created_at, answered_by="member", answer_message=answer, answerer_member=answer.member
    )
    conv = conversation(workspace, history["now"])

    found = suggestions.suggest(conversation=conv, limit=5)

    assert [(a.question_id, a.answered_by, a.conversation_id) for a in found.answered] == [
        (history["q1"].pk, "staff", None),
        (history["q2"].pk, "staff", None),
        (history["q3"].pk, "member", past.pk),
    ]
    assert found.answered[2].answer == "Clear your cookies, then try again."
    assert found.answered[2].answerer == "Cy"


def test_the_conversations_own_thread_and_other_workspaces_are_left_out(
    workspace: Workspace, other_workspace: Workspace, history: dict[str, Any]
) -> None:
    rival = Source.objects.create(workspace=other_workspace, kind="fake", name="Rival")
    theirs = ingest(
        rival, raw("r1", "zed", "How do I reset my password?", 0), raw("r2", "zoe", "Ask support", 1, parent="r1")
    )
    signals(theirs["r1"], unit(1, 0.12))
    conv = conversation(workspace, history["q1"])  # asking about q1's own thread: its answer is not a suggestion

    found = suggestions.suggest(conversation=conv)

    assert [a.question_id for a in found.answered] == [history["q2"].pk]


def test_nothing_similar_enough_gives_nothing(workspace: Workspace, history: dict[str, Any]) -> None:
    conv = conversation(workspace, history["now"])
    signals(history["now"], unit(0, 0, 0, 1))
    assert suggestions.suggest(conversation=conv).answered == []
    signals(history["now"], None)  # not analysed yet
    assert suggestions.suggest(conversation=conv) == suggestions.Suggestions(history["now"].pk, [], [])


class FakeEncoder:
    """Maps a saved reply's title to a fixed direction, so scores are exact."""

    version = VERSION
    directions = {"Password reset": unit(1, 0.5), "Shipping": unit(0, 1), "Refunds": unit(0.3, -1)}

    def encode(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        self.calls.append(list(texts))
        return np.vstack([self.directions[text.split("\n")[0]] for text in texts])

    def __init__(self) -> None:
        self.calls: list[list[str]] = []


@pytest.fixture
def encoder(monkeypatch: pytest.MonkeyPatch) -> FakeEncoder:
    fake = FakeEncoder()
    monkeypatch.setattr(suggestions, "models_backend", lambda: SimpleNamespace(encoder=lambda: fake))
    return fake


def test_saved_replies_ranked_by_meaning_in_the_members_language(
    workspace: Workspace, history: dict[str, Any], encoder: FakeEncoder
) -> None:
    reset = SavedReply.objects.create(
        workspace=workspace, title="Password reset", shortcut="reset", body="Use {link:reset}.", language="en"
    )
    SavedReplyVariant.objects.create(saved_reply=reset, language="it", body="Usa {link:reset}.")
    SavedReply.objects.create(workspace=workspace, title="Shipping", shortcut="ship", body="Two days.")
    SavedReply.objects.create(workspace=workspace, title="Refunds", shortcut="refund", body="Within 14 days.")
    conv = conversation(workspace, history["now"], language="it")

    found = suggestions.suggest(conversation=conv).saved_replies

    assert [(s.shortcut, s.text, s.language, s.similarity) for s in found] == [
        ("reset", "Usa {link:reset}.", "it", 0.94)
    ]
    assert encoder.calls == [["Password reset\nUsa {link:reset}.", "Shipping\nTwo days.", "Refunds\nWithin 14 days."]]
    # Cached: a second look encodes nothing; an edit re-encodes that reply only.
    suggestions.suggest(conversation=conv)
    assert len(encoder.calls) == 1
    SavedReply.objects.filter(pk=reset.pk).update(updated_at=reset.updated_at.replace(year=2030))
    suggestions.suggest(conversation=conv)
    assert encoder.calls[1] == ["Password reset\nUsa {link:reset}."]


def test_another_encoder_version_gives_no_saved_replies(
    workspace: Workspace, history: dict[str, Any], encoder: FakeEncoder
) -> None:
    SavedReply.objects.create(workspace=workspace, title="Shipping", shortcut="ship", body="Two days.")
    encoder.version = "another 2"
    assert suggestions.suggest(conversation=conversation(workspace, history["now"])).saved_replies == []
