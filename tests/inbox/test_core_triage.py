"""Triage: which messages open conversations, idempotency, reopening, the brand's answers, priority."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from communa.accounts.models import Workspace
from communa.connectors.models import Source
from communa.inbox.models import Activity, Conversation, ConversationMessage, InboxSettings
from communa.inbox.triage import compute_priority, mentions_brand, on_conflict
from communa.members.models import Member
from tests.conftest import T0
from tests.inbox.conftest import NOW, events, post, staff, triage

pytestmark = pytest.mark.django_db


def test_a_question_opens_a_conversation_and_running_twice_changes_nothing(
    workspace: Workspace, source: Source
) -> None:
    q = post(source, "m1", "ana", "How do I  reset my\npassword?", question=True, language="it")
    assert triage(workspace, q) == 1
    c = Conversation.objects.get(workspace=workspace)
    assert (c.key, c.kind, c.reason, c.reasons, c.state) == (f"thread:{q.thread_id}", "thread", "question", [], "open")
    assert (c.member_id, c.first_message_id, c.last_member_message_id) == (q.member_id, q.pk, q.pk)
    assert (c.opened_at, c.last_message_at, c.waiting_since, c.last_member_message_at) == (T0, T0, T0, T0)
    assert (c.preview, c.language, c.message_count, c.version) == ("How do I reset my password?", "it", 1, 2)
    # question 20 + waited 60 minutes (≥ 30: 5)
    assert (c.priority, c.priority_computed) == (25, 25)
    assert c.priority_reasons == [
        {"code": "reason", "points": 20, "reason": "question"},
        {"code": "waiting", "points": 5, "minutes": 60},
    ]
    assert c.priority_refresh_at == T0 + timedelta(minutes=120)
    assert events("conversation.created") == [
        {
            "conversation_id": c.pk,
            "source_id": source.pk,
            "reason": "question",
            "opened_at": "2026-03-02T09:00:00+00:00",
            "member_id": q.member_id,
        }
    ]
    assert list(Activity.objects.filter(conversation=c).values_list("kind", flat=True)) == ["opened"]
    assert triage(workspace, q) == 0
    c.refresh_from_db()
    assert (c.version, c.message_count) == (2, 1)
    assert len(events("conversation.created")) == 1
    assert ConversationMessage.objects.count() == 1


def test_plain_chatter_opens_nothing(workspace: Workspace, source: Source) -> None:
    m = post(source, "m1", "ana", "good morning everyone")
    assert triage(workspace, m) == 0
    assert Conversation.objects.count() == 0


@pytest.mark.parametrize(
    ("text", "kwargs", "reason", "kind"),
    [
        ("This update broke everything", {"sentiment": "negative"}, "complaint", "thread"),
        ("shout-out to acme community folks", {}, "mention", "mention"),
        ("I love the WidgetPro!", {}, "mention", "mention"),
        ("hello there", {"metadata": {"is_direct": True, "room_id": "!dm:example.org"}}, "dm", "dm"),
        ("look at this", {"metadata": {"flagged": True}}, "flagged", "thread"),
    ],
)
def test_reasons_that_open_a_conversation(
    workspace: Workspace,
    source: Source,
    text: str,
    kwargs: dict,
    reason: str,
    kind: str,  # type: ignore[type-arg]
) -> None:
    InboxSettings.objects.create(workspace=workspace, brand_keywords=["WidgetPro"])
    m = post(source, "m1", "ana", text, **kwargs)
    assert triage(workspace, m) == 1
    c = Conversation.objects.get()
    assert (c.reason, c.kind) == (reason, kind)
    if kind == "dm":
        assert (c.key, c.channel) == (f"dm:{source.pk}:!dm:example.org", "!dm:example.org")


def test_brand_mentions_are_whole_words() -> None:
    assert mentions_brand("I use Acme daily", ["acme"]) is True
    assert mentions_brand("acme.", ["Acme"]) is True
    assert mentions_brand("acmeology is a word", ["acme"]) is False
    assert mentions_brand("the_acme_", ["acme"]) is False
    assert mentions_brand("(.*) anything", ["(.*)"]) is True  # a keyword is literal text, never a pattern
    assert mentions_brand("nothing", ["(.*)"]) is False


def test_a_reply_to_the_brands_post_opens_a_conversation(workspace: Workspace, source: Source) -> None:
    announcement = staff(post(source, "a1", "brand", "We are launching v2 today"))
    answer = post(source, "m1", "ana", "cool", 5, parent="a1")
    assert triage(workspace, announcement, answer) == 1
    c = Conversation.objects.get()
    assert (c.reason, c.member_id, c.first_message_id) == ("reply_to_brand", answer.member_id, answer.pk)
    assert c.first_response_at is None  # the brand's post came before: it answers nothing


def test_spam_bots_joins_and_old_history_open_nothing(workspace: Workspace, source: Source) -> None:
    spam = post(source, "s1", "spammer", "Is this the best crypto?", question=True, spam=True)
    bot = post(source, "b1", "bot", "Need help?", question=True)
    Member.objects.filter(pk=bot.member_id).update(is_bot=True)
    old = post(source, "o1", "ana", "anyone?", question=True)
    assert triage(workspace, spam, bot, now=NOW) == 0
    assert triage(workspace, old, now=T0 + timedelta(days=8)) == 0
    assert Conversation.objects.count() == 0


def test_the_brands_answer_records_first_response_and_answers_the_question(
    workspace: Workspace, source: Source
) -> None:
    q = post(source, "m1", "ana", "Where is my order?", question=True)
    triage(workspace, q)
    a = staff(post(source, "m2", "giulia", "It ships tomorrow", 25, parent="m1"))
    triage(workspace, a)
    c = Conversation.objects.get()
    assert (c.first_response_at, c.waiting_since, c.last_staff_message_at, c.state) == (
        T0 + timedelta(minutes=25),
        None,
        T0 + timedelta(minutes=25),
        "open",
    )
    assert events("conversation.first_response") == [
        {
            "conversation_id": c.pk,
            "source_id": source.pk,
            "at": "2026-03-02T09:25:00+00:00",
            "seconds": 1500,
            "business_seconds": 1500,
            "by": "staff",
        }
    ]
    assert events("question.answered") == [
        {
            "conversation_id": c.pk,
            "source_id": source.pk,
            "message_id": q.pk,
            "at": "2026-03-02T09:25:00+00:00",
            "seconds": 1500,
            "answered_by": "staff",
            "answerer_member_id": a.member_id,
        }
    ]
    roles = dict(ConversationMessage.objects.values_list("message_id", "role"))
    assert roles == {q.pk: "member", a.pk: "staff"}
    # The priority no longer counts the wait.
    assert [p["code"] for p in c.priority_reasons] == ["reason"]
    # A second staff message is no second first response.
    triage(workspace, staff(post(source, "m3", "giulia", "Anything else?", 30, parent="m1")))
    assert len(events("conversation.first_response")) == 1


def test_another_member_answers_and_is_credited(workspace: Workspace, source: Source) -> None:
    q = post(source, "m1", "ana", "Which grinder setting for espresso?", question=True)
    other_question = post(source, "m2", "ben", "Same question, and for moka?", 3, parent="m1", question=True)
    own_follow_up = post(source, "m3", "ana", "I have a Baratza", 4, parent="m1")
    answer = post(source, "m4", "carla", "Try 8 for espresso, 14 for moka", 10, parent="m1")
    triage(workspace, q, other_question, own_follow_up, answer)
    c = Conversation.objects.get()
    answered = events("question.answered")
    assert [(e["message_id"], e["answered_by"], e["answerer_member_id"], e["seconds"]) for e in answered] == [
        (q.pk, "member", answer.member_id, 600),
        (other_question.pk, "member", answer.member_id, 420),
    ]
    roles = dict(ConversationMessage.objects.values_list("message_id", "role"))
    assert roles == {q.pk: "member", other_question.pk: "member", own_follow_up.pk: "member", answer.pk: "community"}
    assert c.answered_by_community is True
    assert c.waiting_since == T0  # the brand still owes an answer: the community's does not stop the clock
    assert {"code": "community_answer", "points": -20} in c.priority_reasons
    assert Activity.objects.filter(conversation=c, kind="community_answer").count() == 1


def test_a_member_does_not_answer_their_own_question(workspace: Workspace, source: Source) -> None:
    q = post(source, "m1", "ana", "Does it work on Linux?", question=True)
    nudge = post(source, "m2", "ben", "+1", 3, parent="m1")  # another member, no reason: community
    triage(workspace, q)
    own = post(source, "m3", "ana", "found it myself", 5, parent="m1")
    triage(workspace, own)
    assert events("question.answered") == []
    triage(workspace, nudge)
    assert [e["answerer_member_id"] for e in events("question.answered")] == [nudge.member_id]


def test_a_new_member_message_reopens_a_resolved_conversation(workspace: Workspace, source: Source) -> None:
    q = post(source, "m1", "ana", "My machine leaks", sentiment="negative")
    triage(workspace, q)
    c = Conversation.objects.get()
    Conversation.objects.filter(pk=c.pk).update(state="resolved", resolved_at=T0 + timedelta(minutes=30))
    third_party = post(source, "m2", "ben", "mine too lol", 40, parent="m1")
    triage(workspace, third_party)
    c.refresh_from_db()
    assert c.state == "resolved"  # another member's plain message joins but does not reopen
    again = post(source, "m3", "ana", "it is leaking again", 50, parent="m1")
    triage(workspace, again)
    c.refresh_from_db()
    assert (c.state, c.resolved_at, c.reopen_count, c.waiting_since) == ("open", None, 1, T0)
    assert events("conversation.reopened") == [
        {"conversation_id": c.pk, "source_id": source.pk, "at": "2026-03-02T09:50:00+00:00"}
    ]


def test_pending_and_snoozed_open_again_when_the_member_writes(workspace: Workspace, source: Source) -> None:
    triage(workspace, post(source, "m1", "ana", "Is the shop open on Sunday?", question=True))
    c = Conversation.objects.get()
    Conversation.objects.filter(pk=c.pk).update(state="snoozed", snoozed_until=T0 + timedelta(days=1))
    triage(workspace, post(source, "m2", "ana", "hello?", 20, parent="m1"))
    c.refresh_from_db()
    assert (c.state, c.snoozed_until) == ("open", None)
    assert events("conversation.reopened") == []
    assert list(Activity.objects.filter(conversation=c, kind="state").values_list("data", flat=True)) == [
        {"from": "snoozed", "to": "open"}
    ]


def test_a_flag_reaction_opens_a_conversation_on_the_flagged_message(workspace: Workspace, source: Source) -> None:
    target = post(source, "m1", "troll", "you are all idiots")
    flag = post(source, "r1", "ana", "🚩", 2, parent="m1", kind="reaction")
    assert triage(workspace, target, flag) == 1
    c = Conversation.objects.get()
    assert (c.reason, c.member_id, c.first_message_id) == ("flagged", target.member_id, target.pk)
    assert triage(workspace, flag) == 0


def test_conflict_detected_opens_the_threads_conversation_once(workspace: Workspace, source: Source) -> None:
    a = post(source, "m1", "ana", "you are wrong")
    b = post(source, "m2", "ben", "no YOU are wrong", 1, parent="m1", toxic=True)
    data = {"thread_id": a.thread_id, "source_id": source.pk, "message_ids": [a.pk, b.pk], "score": 0.9, "reasons": []}
    c = on_conflict(workspace_id=workspace.pk, data=data, now=NOW)
    assert c is not None
    assert (c.key, c.reason, c.message_count, c.member_id) == (f"thread:{a.thread_id}", "conflict", 2, None)
    # conflict 35 + waited 59 min (5) + toxic thread 15
    assert c.priority == 55
    on_conflict(workspace_id=workspace.pk, data=data, now=NOW)
    assert Conversation.objects.count() == 1
    assert ConversationMessage.objects.count() == 2
    assert len(events("conversation.created")) == 1


def test_priority_parts_are_explained_and_capped() -> None:
    c = Conversation(
        reason="complaint",
        reasons=["question"],
        waiting_since=T0,
        state="open",
        escalated_at=T0,
        answered_by_community=False,
    )
    total, parts, refresh = compute_priority(
        c, now=T0 + timedelta(hours=25), negative=True, toxic=True, member_messages=600, platform="bluesky"
    )
    assert parts == [
        {"code": "reason", "points": 30, "reason": "complaint"},
        {"code": "waiting", "points": 30, "minutes": 1500},
        {"code": "negative", "points": 15},
        {"code": "toxic_thread", "points": 15},
        {"code": "member", "points": 15, "messages": 600},
        {"code": "platform", "points": 10, "platform": "bluesky"},
        {"code": "escalated", "points": 15},
    ]
    assert (total, refresh) == (100, None)


def test_chatter_costs_a_constant_number_of_queries(
    workspace: Workspace, source: Source, django_assert_num_queries: Any
) -> None:
    chatter = [post(source, f"c{i}", f"member{i % 5}", f"nice weather {i}", i) for i in range(30)]
    replies = [post(source, f"r{i}", "ben", "indeed", 40 + i, parent=f"c{i}") for i in range(10)]
    # settings, workspace name, already linked, the messages, sent by the outbox, existing conversations
    with django_assert_num_queries(6):
        assert triage(workspace, *chatter, *replies) == 0
