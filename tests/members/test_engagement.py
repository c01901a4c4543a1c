"""Engagement from real ingested conversations: weighted activity, idempotence, staff excluded, levels and
lifecycle with their events, merges, message counters kept current at ingest time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from communa.accounts.models import Workspace
from communa.events.models import DomainEvent
from communa.members import tasks as member_tasks
from communa.members.engagement import services
from communa.members.engagement.models import ActivityEvent, MemberEngagement, MemberFacts
from communa.members.models import Member
from communa.members.services import merge_members
from communa.stream.models import Message
from tests.members.engagement_helpers import NOW, ingest, member, process, row

pytestmark = pytest.mark.django_db
FORUM = "discourse:forum"
START = NOW - timedelta(days=2)


@pytest.fixture
def thread(workspace: Workspace) -> dict[str, Member]:
    """Ana asks; Bea answers first, Cy second; Ana thanks Bea and reacts to Cy; Sam (staff) answers too."""
    at = START
    ingest(
        workspace,
        FORUM,
        [
            row("q1", "ana", "How do I descale the Vela?", at, email="ana@roastery.io"),
            row("a1", "bea", "Use citric acid, 2 spoons.", at + timedelta(minutes=5), thread="q1", parent="q1"),
            row("a2", "cy", "Vinegar works too.", at + timedelta(minutes=9), thread="q1", parent="q1"),
            row("s1", "sam", "Official guide: see the manual.", at + timedelta(minutes=20), thread="q1", parent="q1"),
            row("t1", "ana", "Thanks Bea, that worked!", at + timedelta(minutes=30), thread="q1", parent="a1"),
            row("r1", "ana", "👍", at + timedelta(minutes=31), thread="q1", parent="a2", kind="reaction"),
            row("p1", "cy", "My new grinder setup", at + timedelta(hours=3)),
        ],
    )
    people = {name: member(workspace, FORUM, name) for name in ("ana", "bea", "cy", "sam")}
    Member.objects.filter(pk=people["sam"].pk).update(is_staff=True)
    return people


def kinds(m: Member) -> list[tuple[str, float]]:
    return sorted(ActivityEvent.objects.filter(member=m).values_list("kind", "weight"))


def test_activity_is_weighted_by_what_it_did_for_others(workspace: Workspace, thread: dict[str, Member]) -> None:
    process(workspace, NOW)
    assert kinds(thread["ana"]) == [("question", 3.0), ("reaction", 0.25), ("reply", 1.0)]
    assert kinds(thread["bea"]) == [("first_reply", 2.0), ("helpful_reply", 5.0), ("thanked", 3.0)]
    assert kinds(thread["cy"]) == [("helpful_reply", 5.0), ("post", 2.0), ("thanked", 3.0)]
    assert kinds(thread["sam"]) == []  # staff: left out
    assert not MemberEngagement.objects.filter(member=thread["sam"]).exists()
    bea = MemberEngagement.objects.get(member=thread["bea"])
    assert bea.score == pytest.approx(10.0 * 2 ** (-2 / 30), rel=1e-3)
    assert bea.level == "participant"
    assert bea.lifecycle == "new"
    assert bea.recent == {"first_reply": 1, "helpful_reply": 1, "thanked": 1}
    edge = ActivityEvent.objects.get(member=thread["bea"], kind="helpful_reply")
    assert (edge.counterpart_id, edge.platform, edge.language) == (thread["ana"].pk, FORUM, "en")


def test_processing_twice_changes_nothing(workspace: Workspace, thread: dict[str, Member]) -> None:
    process(workspace, NOW)
    before = list(ActivityEvent.objects.order_by("id").values_list("member_id", "kind", "cause_id"))
    scores = dict(MemberEngagement.objects.values_list("member_id", "score"))
    process(workspace, NOW)
    assert list(ActivityEvent.objects.order_by("id").values_list("member_id", "kind", "cause_id")) == before
    assert dict(MemberEngagement.objects.values_list("member_id", "score")) == scores


def test_a_promotion_emits_level_changed_and_silence_emits_lifecycle_changed(
    workspace: Workspace, thread: dict[str, Member]
) -> None:
    process(workspace, NOW)
    DomainEvent.objects.all().delete()
    # Bea answers four more questions: regular at once.
    rows = []
    for i in range(4):
        at = NOW + timedelta(hours=i)
        rows.append(row(f"q{i + 10}", "ana", f"Question {i}?", at))
        rows.append(
            row(
                f"a{i + 10}", "bea", "Here is how.", at + timedelta(minutes=3), thread=f"q{i + 10}", parent=f"q{i + 10}"
            )
        )
    ids = ingest(workspace, FORUM, rows)
    later = NOW + timedelta(hours=5)
    services.refresh_engagement(
        workspace=workspace, member_ids=services.record_activity(workspace=workspace, message_ids=ids), now=later
    )
    bea = MemberEngagement.objects.get(member=thread["bea"])
    assert (bea.level, bea.level_since) == ("regular", later)
    events = DomainEvent.objects.filter(name="member.level_changed").values_list("data", flat=True)
    assert {"member_id": thread["bea"].pk, "from": "participant", "to": "regular", "at": later.isoformat()} in events
    # Three quiet weeks later: below 30 for eleven days, still regular (demotion waits two weeks), at risk.
    quiet = later + timedelta(days=21)
    services.refresh_engagement(workspace=workspace, member_ids=[thread["bea"].pk], now=quiet)
    bea.refresh_from_db()
    assert bea.level == "regular"
    assert bea.below_since is not None
    assert bea.lifecycle == "at_risk"
    lifecycle_events = DomainEvent.objects.filter(name="member.lifecycle_changed").values_list("data", flat=True)
    assert {"member_id": thread["bea"].pk, "from": "new", "to": "at_risk", "at": quiet.isoformat()} in lifecycle_events
    # Forty days more: the level is lost and the member churned; one sweep does it.
    result = services.sweep_engagement(workspace=workspace, now=quiet + timedelta(days=40))
    assert result.done
    bea.refresh_from_db()
    assert (bea.level, bea.lifecycle) == ("participant", "churned")


def test_a_member_who_becomes_staff_loses_their_row(workspace: Workspace, thread: dict[str, Member]) -> None:
    process(workspace, NOW)
    Member.objects.filter(pk=thread["bea"].pk).update(is_staff=True)
    services.refresh_engagement(workspace=workspace, member_ids=[thread["bea"].pk], now=NOW)
    assert not MemberEngagement.objects.filter(member=thread["bea"]).exists()


def test_merging_moves_activity_and_recomputes_both(
    workspace: Workspace, owner: object, thread: dict[str, Member]
) -> None:
    process(workspace, NOW)
    merge_members(workspace=workspace, into=thread["bea"], merged=thread["cy"], actor=None)
    assert DomainEvent.objects.filter(name="member.merged", data__merged_id=thread["cy"].pk).exists()
    services.on_members_merged(workspace=workspace, member_ids=[thread["bea"].pk, thread["cy"].pk])
    assert not ActivityEvent.objects.filter(member=thread["cy"]).exists()
    assert not MemberEngagement.objects.filter(member=thread["cy"]).exists()  # a tombstone has no level
    bea = MemberEngagement.objects.get(member=thread["bea"])
    assert bea.recent == {"first_reply": 1, "helpful_reply": 2, "thanked": 2, "post": 1}


def test_facts_languages_organisation_and_message_counter(workspace: Workspace, thread: dict[str, Member]) -> None:
    process(workspace, NOW)
    facts = MemberFacts.objects.get(member=thread["ana"])
    assert (facts.main_language, facts.languages, facts.organisation) == ("en", {"en": 2}, "roastery.io")
    assert facts.utc_offset is None  # three messages: not enough to tell


def test_ingest_event_refreshes_message_counts_before_resolution_runs(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    enqueued: list[tuple[int, list[int]]] = []
    fake = type("FakeTask", (), {"enqueue": staticmethod(lambda *args: enqueued.append(args))})
    monkeypatch.setattr(member_tasks, "resolve_ingested_task", fake)
    ids = ingest(
        workspace, FORUM, [row("m1", "dan", "hello", START), row("m2", "dan", "again", START + timedelta(minutes=1))]
    )
    dan = member(workspace, FORUM, "dan")
    assert dan.message_count == 0  # ingest does not count: the subscriber does
    event = DomainEvent.objects.filter(name="messages.ingested").latest("id")
    member_tasks.on_messages_ingested(event)
    dan.refresh_from_db()
    assert dan.message_count == 2
    assert enqueued == [(workspace.pk, ids)]
    assert Message.objects.filter(member=dan).count() == 2
