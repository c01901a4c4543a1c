"""Conflict early warning: the score of a thread from its recent messages, and the alert with its event."""

from __future__ import annotations

import pytest

from communa.accounts.models import Workspace
from communa.connectors.models import Source
from communa.events.models import DomainEvent
from communa.moderation.conflict import Point, check_messages, score
from communa.moderation.models import ConflictAlert
from tests.moderation.conftest import post, signals


def point(n: int, member: int, *, minutes: float, toxicity: float = 0.05, negative: bool = False) -> Point:
    return Point(n, member, minutes * 60, toxicity, toxicity >= 0.5, negative)


def test_a_calm_thread_scores_nothing() -> None:
    calm = [point(n, n % 5, minutes=n * 7) for n in range(12)]
    assert score(calm).score == 0.0


def test_a_duel_that_turns_toxic_and_negative() -> None:
    duel = [point(0, 1, minutes=0), point(1, 2, minutes=3), point(2, 1, minutes=5, negative=True),
            point(3, 2, minutes=6, toxicity=0.6, negative=True), point(4, 1, minutes=8, toxicity=0.7, negative=True),
            point(5, 3, minutes=9), point(6, 2, minutes=9.5, toxicity=0.9, negative=True)]  # fmt: skip
    heat = score(duel)
    assert [r["code"] for r in heat.reasons] == ["rising_toxicity", "back_and_forth", "negative_turn"]
    assert heat.score == 0.8


def test_many_replies_alone_is_not_a_conflict() -> None:
    burst = [point(n, n, minutes=n * 0.5) for n in range(12)]
    heat = score(burst)
    assert ([r["code"] for r in heat.reasons], heat.score) == (["burst"], 0.2)


@pytest.mark.django_db
def test_a_heated_thread_raises_one_alert_and_the_event(workspace: Workspace, fake_source: Source) -> None:
    texts = ["your batch is broken", "works for me", "you are a fanboy", "and you just rant", "nobody asked you",
             "you clearly know nothing"]  # fmt: skip
    ids = []
    for n, text in enumerate(texts):
        author = "ana" if n % 2 == 0 else "ben"
        message = post(fake_source, f"t{n}", text, author=author, minutes=n * 2, thread="topic-1")
        signals(message, toxicity=0.1 if n < 3 else 0.8, sentiment="negative" if n >= 2 else "neutral")
        ids.append(message.pk)
    [alert] = check_messages(workspace_id=workspace.pk, message_ids=ids[-1:])
    assert alert.score == 0.8
    assert alert.message_ids == ids
    assert check_messages(workspace_id=workspace.pk, message_ids=ids[-1:]) == []  # one alert per cooldown
    [event] = DomainEvent.objects.filter(name="conflict.detected")
    assert (event.data["thread_id"], event.data["score"], event.data["codes"]) == (
        alert.thread_id, 0.8, ["rising_toxicity", "back_and_forth", "negative_turn"]
    )  # fmt: skip
    assert ConflictAlert.objects.count() == 1
