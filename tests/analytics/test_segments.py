"""Segment rollups: exact counts of a segment's members on a small hand-made community, kept current by the
worker, rebuilt on a change of definition (with progress), moved by membership changes, equal to a rebuild and to
the ledger path, scoped to the workspace."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client
from django.test.utils import override_settings

from communa.accounts.models import User, Workspace
from communa.analytics import rollups, segments, selectors
from communa.analytics.models import SegmentActive, SegmentDaily, SegmentMember, SegmentRollup
from communa.analytics.selectors import DateRange, Filters
from communa.analytics.tasks import refresh_job, segments_task
from communa.connectors.models import Source
from communa.events.dispatch import dispatch_pending
from communa.events.models import DomainEvent
from communa.events.subscribers import SUBSCRIBERS
from communa.members.models import Member, MemberTag, Segment, Tag
from communa.members.segments import MemberFilter, create_segment, delete_segment, update_segment
from tests.analytics.conftest import d, ingest, item, member
from tests.analytics.test_rollups import EXPECTED_DAY2, EXPECTED_DAY3, community
from tests.conftest import login

pytestmark = pytest.mark.django_db

MARCH = DateRange(date(2026, 3, 1), date(2026, 3, 31))
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": []}}
ZERO = dict.fromkeys(SegmentDaily.COUNTERS, 0)


def tag(workspace: Workspace, name: str, *people: Member) -> None:
    label, _ = Tag.objects.get_or_create(workspace=workspace, name=name)
    for person in people:
        MemberTag.objects.get_or_create(workspace=workspace, member=person, tag=label)


def untag(workspace: Workspace, name: str, person: Member) -> None:
    MemberTag.objects.filter(workspace=workspace, member=person, tag__name=name).delete()


def beta(workspace: Workspace) -> Segment:
    return create_segment(workspace=workspace, name="Beta testers", flt=MemberFilter(tag=["beta"]), actor=None)


def counters(segment: Segment) -> dict[date, dict[str, int]]:
    out: dict[date, dict[str, int]] = {}
    for row in SegmentDaily.objects.filter(rollup__segment=segment).values():
        bucket = out.setdefault(row["day"], dict(ZERO))
        for name in SegmentDaily.COUNTERS:
            bucket[name] += row[name]
    return {day: values for day, values in out.items() if any(values.values())}


def active(segment: Segment) -> dict[date, tuple[int, ...]]:
    return {
        r[0]: r[1:]
        for r in SegmentActive.objects.filter(rollup__segment=segment).values_list(
            "day", "dau", "wau", "mau", "new_members", "total_members"
        )
    }


def state(segment: Segment) -> SegmentRollup:
    return SegmentRollup.objects.get(segment=segment)


# ana and carl are beta testers. Day 2: ana opens a thread (negative, toxic) and replies to staff Sam (not a peer
# reply). Day 3: ana replies to bob (peer), carl asks a question (neutral). Day 10: bob and dora write (not beta).
BETA_DAY2 = {**ZERO, "messages": 2, "threads": 1, "replies": 1, "negative": 1, "toxic": 1}
BETA_DAY3 = {**ZERO, "messages": 2, "threads": 1, "replies": 1, "peer_replies": 1, "questions": 1, "neutral": 1}


def setup(workspace: Workspace, source: Source) -> Segment:
    ids = community(workspace, source)
    ids += ingest(source, [item("x", "bob", d(10, 9)), item("y", "dora", d(10, 10))])
    rollups.apply_batch(workspace=workspace, message_ids=ids)
    rollups.refresh_dirty(workspace=workspace)
    tag(workspace, "beta", member(workspace, "ana"), member(workspace, "carl"))
    return beta(workspace)


def test_built_segment_has_exact_counters_and_distinct_counts(workspace: Workspace, fake_source: Source) -> None:
    segment = setup(workspace, fake_source)
    assert segments.due()
    assert segments.run_due() == 1
    rollup = state(segment)
    assert (rollup.status, rollup.members, rollup.progress_done, rollup.progress_total) == ("ready", 2, 3, 3)
    assert counters(segment) == {date(2026, 3, 2): BETA_DAY2, date(2026, 3, 3): BETA_DAY3}
    days = active(segment)
    assert days[date(2026, 3, 2)] == (1, 1, 1, 1, 1)  # ana
    assert days[date(2026, 3, 3)] == (2, 2, 2, 1, 2)  # ana, carl (new)
    assert days[date(2026, 3, 9)] == (0, 2, 2, 0, 2)  # WAU of 3..9: ana, carl
    assert days[date(2026, 3, 10)] == (0, 0, 2, 0, 2)  # WAU of 4..10: nobody; MAU ana, carl
    assert date(2026, 3, 1) not in days
    # the dashboards read these rows: the same numbers as the ledger joined with the live filter
    filters = Filters(segment_id=segment.pk)
    assert selectors.value(workspace, "messages", MARCH, filters) == 4
    assert selectors.value(workspace, "peer_reply_share", MARCH, filters) == 0.5
    assert selectors.value(workspace, "members_new", MARCH, filters) == 2
    source_only = Filters(segment_id=segment.pk, source_id=fake_source.pk)
    assert selectors.value(workspace, "messages", MARCH, source_only) == 4
    assert not segments.due()


def test_ready_segment_reads_only_segment_rollups(workspace: Workspace, fake_source: Source) -> None:
    segment = setup(workspace, fake_source)
    segments.run_due()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        selectors.overview(workspace, MARCH, Filters(segment_id=segment.pk))
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert "analytics_segmentdaily" in sql
    assert "analytics_segmentactive" in sql
    assert "analytics_messagefact" not in sql
    assert "stream_message" not in sql


def test_ledger_path_gives_the_same_numbers_before_the_build(workspace: Workspace, fake_source: Source) -> None:
    segment = setup(workspace, fake_source)
    filters = Filters(segment_id=segment.pk)
    before = {
        m: selectors.value(workspace, m, MARCH, filters)
        for m in ("messages", "sentiment_negative", "mau", "members_new")
    }
    assert selectors.segment_status(workspace, segment.pk) == selectors.SegmentStatus(state="pending")
    segments.run_due()
    after = {
        m: selectors.value(workspace, m, MARCH, filters)
        for m in ("messages", "sentiment_negative", "mau", "members_new")
    }
    assert before == after
    assert after["messages"] == 4


def test_worker_keeps_segment_current_and_equal_to_a_rebuild(workspace: Workspace, fake_source: Source) -> None:
    segment = setup(workspace, fake_source)
    segments.run_due()
    # new messages by ana (beta) and bob (not beta); reprocessing the batch adds nothing
    ids = ingest(fake_source, [item("n1", "ana", d(11, 9)), item("n2", "bob", d(11, 10), parent="n1")])
    for _ in range(2):
        rollups.apply_batch(workspace=workspace, message_ids=ids)
    rollups.refresh_dirty(workspace=workspace)
    assert counters(segment)[date(2026, 3, 11)] == {**ZERO, "messages": 1, "threads": 1}
    assert active(segment)[date(2026, 3, 11)] == (1, 1, 2, 0, 2)
    # carl becomes staff: his question leaves the members' counters for the staff counter
    carl = member(workspace, "carl")
    carl.is_staff = True
    carl.save()
    rollups.apply_batch(workspace=workspace, message_ids=ingest(fake_source, [item("q", "carl", d(3, 10))]))
    rollups.refresh_dirty(workspace=workspace)
    assert active(segment)[date(2026, 3, 3)] == (1, 1, 1, 0, 1)  # carl no longer counts as a member
    assert counters(segment)[date(2026, 3, 3)] == {
        **ZERO,
        "messages": 1,
        "staff_messages": 1,
        "replies": 1,
        "peer_replies": 1,
    }
    incremental = counters(segment), active(segment)
    segments.build(state(segment), force=True)
    assert (counters(segment), active(segment)) == incremental


def test_definition_change_rebuilds_with_progress(workspace: Workspace, fake_source: Source) -> None:
    segment = setup(workspace, fake_source)
    segments.run_due()
    update_segment(workspace=workspace, segment=segment, flt=MemberFilter(q="bob"), actor=None)
    assert segments.due()
    segments.sync(workspace=workspace)
    assert state(segment).status == "pending"
    seen: list[tuple[int, int]] = []
    assert segments.build(state(segment), progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]  # snapshot, one month of ledger, distinct counts
    rollup = state(segment)
    assert (rollup.status, rollup.members, rollup.definition) == ("ready", 1, {"q": "bob"})
    # bob: day 2 a peer reply to ana (positive) and a reaction; day 10 a new thread
    assert counters(segment) == {
        date(2026, 3, 2): {**ZERO, "messages": 1, "reactions": 1, "replies": 1, "peer_replies": 1, "positive": 1},
        date(2026, 3, 10): {**ZERO, "messages": 1, "threads": 1},
    }
    assert SegmentMember.objects.filter(rollup=rollup).count() == 1


def test_a_segment_redefined_during_its_build_is_not_built_twice_at_once(
    workspace: Workspace, fake_source: Source
) -> None:
    segment = setup(workspace, fake_source)
    segments.sync(workspace=workspace)
    during: list[object] = []

    def redefine_meanwhile(done: int, total: int) -> None:
        if done == 1:  # the build has read the first definition and taken its snapshot
            update_segment(workspace=workspace, segment=segment, flt=MemberFilter(q="bob"), actor=None)
            during.append(segments.sync(workspace=workspace))  # the periodic run or the segment.saved task
            during.append(segments.build(state(segment)))  # a second worker
            during.append(state(segment).status)

    assert segments.build(state(segment), progress=redefine_meanwhile)
    assert during == [[], False, "building"]  # left to the running build: no second build beside it
    rollup = state(segment)
    assert (rollup.status, rollup.definition) == ("pending", {"q": "bob"})  # the build saw the change at its end
    assert segments.build(rollup)
    assert (state(segment).status, state(segment).members) == ("ready", 1)


def test_building_segment_shows_progress_on_the_dashboard(
    workspace: Workspace, fake_source: Source, manager: User, client: Client
) -> None:
    segment = setup(workspace, fake_source)
    segments.sync(workspace=workspace)
    SegmentRollup.objects.filter(segment=segment).update(status="building", progress_done=1, progress_total=4)
    page = login(client, manager).get(f"/w/acme/analytics/?segment={segment.pk}").content.decode()
    assert "being rebuilt (25% done)" in page
    SegmentRollup.objects.filter(segment=segment).update(status="ready")
    page = client.get(f"/w/acme/analytics/?segment={segment.pk}").content.decode()
    assert "an-segment-status" not in page


def test_membership_changes_move_the_members_history(workspace: Workspace, fake_source: Source) -> None:
    segment = setup(workspace, fake_source)
    segments.run_due()
    tag(workspace, "beta", member(workspace, "dora"))  # joins: her day-10 thread is added
    untag(workspace, "beta", member(workspace, "ana"))  # leaves: her three messages are taken back
    assert segments.refresh_membership(state(segment)) == (1, 1)
    assert counters(segment) == {
        date(2026, 3, 3): {**ZERO, "messages": 1, "threads": 1, "questions": 1, "neutral": 1},
        date(2026, 3, 10): {**ZERO, "messages": 1, "threads": 1},
    }
    days = active(segment)
    assert days[date(2026, 3, 3)] == (1, 1, 1, 1, 1)  # carl
    assert days[date(2026, 3, 10)] == (1, 1, 2, 1, 2)  # dora; MAU carl, dora
    assert date(2026, 3, 2) not in days
    moved = counters(segment), active(segment)
    segments.build(state(segment), force=True)
    assert (counters(segment), active(segment)) == moved
    assert segments.refresh_membership(state(segment)) == (0, 0)


def test_membership_is_compared_in_the_database(workspace: Workspace, fake_source: Source) -> None:
    """The drift check reads no list of member ids: both set differences run in SQL, only changes come back."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    segment = setup(workspace, fake_source)
    segments.run_due()
    with CaptureQueriesContext(connection) as ctx:
        assert segments.refresh_membership(state(segment)) == (0, 0)
    reads = [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    membership_reads = [sql for sql in reads if "analytics_segmentmember" in sql or "members_membertag" in sql]
    assert len(membership_reads) == 2
    assert all(" EXCEPT " in sql for sql in membership_reads)


def test_a_large_membership_change_rebuilds_and_reports_exact_counts(
    workspace: Workspace, fake_source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    segment = setup(workspace, fake_source)
    segments.run_due()
    monkeypatch.setattr(segments, "REBUILD_MIN", 1)
    tag(workspace, "beta", member(workspace, "bob"), member(workspace, "dora"))  # 2 join a segment of 2: 100%
    assert segments.refresh_membership(state(segment)) == (2, 0)
    rollup = state(segment)
    assert (rollup.status, rollup.members) == ("ready", 4)
    assert counters(segment)[date(2026, 3, 10)] == {**ZERO, "messages": 2, "threads": 2}


def test_a_snapshot_moved_on_meanwhile_is_left_alone(
    workspace: Workspace, fake_source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers compare the same snapshot: the second to take the lock finds it moved on and adds nothing."""
    segment = setup(workspace, fake_source)
    segments.run_due()
    tag(workspace, "beta", member(workspace, "bob"))
    compare = segments._changed_ids
    other_worker: list[tuple[int, int]] = []

    def compare_then_lose_the_race(*args: object, **kwargs: object) -> tuple[list[int], list[int]]:
        found = compare(*args, **kwargs)  # type: ignore[arg-type]
        monkeypatch.setattr(segments, "_changed_ids", compare)
        other_worker.append(segments.refresh_membership(state(segment)))  # meanwhile, the same change applied
        return found

    monkeypatch.setattr(segments, "_changed_ids", compare_then_lose_the_race)
    assert segments.refresh_membership(state(segment)) == (0, 0)  # found bob too, but does not apply him twice
    assert other_worker == [(1, 0)]
    assert state(segment).members == 3
    assert counters(segment)[date(2026, 3, 10)] == {**ZERO, "messages": 1, "threads": 1}  # bob's thread, once


def test_membership_is_compared_when_due(workspace: Workspace, fake_source: Source) -> None:
    segment = setup(workspace, fake_source)
    segments.run_due()
    tag(workspace, "beta", member(workspace, "bob"))
    assert not segments.due()  # compared every ANALYTICS_SEGMENT_REFRESH seconds
    SegmentRollup.objects.filter(segment=segment).update(membership_at=None)
    assert segments.due()
    refresh_job()  # enqueues segments_task when segments.due(); run here as the worker would
    assert segments_task.call() == 1
    assert state(segment).members == 3
    assert counters(segment)[date(2026, 3, 10)]["messages"] == 1  # bob's day-10 thread


@override_settings(ANALYTICS_SEGMENTS_MAX=1)
def test_segments_beyond_the_limit_are_computed_from_the_ledger(workspace: Workspace, fake_source: Source) -> None:
    first = setup(workspace, fake_source)
    second = create_segment(workspace=workspace, name="Bob", flt=MemberFilter(q="bob"), actor=None)
    segments.run_due()
    assert SegmentRollup.objects.filter(workspace=workspace).count() == 1
    assert state(first).status == "ready"
    assert selectors.segment_status(workspace, second.pk) == selectors.SegmentStatus(state="untracked", limit=1)
    filters = Filters(segment_id=second.pk)
    assert selectors.value(workspace, "messages", MARCH, filters) == 2
    assert selectors.value(workspace, "peer_reply_share", MARCH, filters) == 1.0
    # the first one deleted: the second takes its place
    delete_segment(workspace=workspace, segment=first, actor=None)
    assert not SegmentDaily.objects.filter(workspace=workspace).exists()
    segments.run_due()
    assert state(second).status == "ready"
    assert selectors.value(workspace, "messages", MARCH, filters) == 2


def test_segment_of_another_workspace_matches_nobody(
    workspace: Workspace, other_workspace: Workspace, fake_source: Source
) -> None:
    setup(workspace, fake_source)
    segments.run_due()
    rival = create_segment(workspace=other_workspace, name="All", flt=MemberFilter(), actor=None)
    segments.run_due()
    assert selectors.value(workspace, "messages", MARCH, Filters(segment_id=rival.pk)) == 0
    assert selectors.segment_status(workspace, rival.pk) is None
    assert state(rival).members == 0


def test_backfill_builds_tracked_segments(workspace: Workspace, fake_source: Source) -> None:
    from communa.analytics.management.commands.analytics import backfill

    segment = setup(workspace, fake_source)
    backfill(workspace, with_topics=False, quiet=True)
    assert state(segment).status == "ready"
    assert counters(segment) == {date(2026, 3, 2): BETA_DAY2, date(2026, 3, 3): BETA_DAY3}
    # the segment is the part of the community's counters written by ana and carl
    assert all(BETA_DAY2[k] <= EXPECTED_DAY2[k] and BETA_DAY3[k] <= EXPECTED_DAY3[k] for k in ZERO)


def dispatch_segment_events() -> None:
    """Run analytics' subscribers of the members' segment events as the dispatcher does, their tasks at once."""
    ours = {name: [p for p in SUBSCRIBERS[name] if ".analytics." in p] for name in ("segment.saved", "segment.deleted")}
    assert ours == {name: ["communa.analytics.tasks.on_segment_event"] for name in ours}
    with override_settings(TASKS=IMMEDIATE):
        dispatch_pending(subscribers=ours)


def segment_events() -> list[tuple[str, dict[str, object]]]:
    return [(e.name, e.data) for e in DomainEvent.objects.filter(name__startswith="segment.").order_by("pk")]


def test_segment_events_track_rebuild_and_forget_without_waiting_for_the_poll(
    workspace: Workspace, fake_source: Source
) -> None:
    segment = setup(workspace, fake_source)
    assert segment_events() == [("segment.saved", {"segment_id": segment.pk, "created": True, "filter_changed": True})]
    dispatch_segment_events()
    rollup = state(segment)
    assert (rollup.status, rollup.members) == ("ready", 2)
    assert counters(segment) == {date(2026, 3, 2): BETA_DAY2, date(2026, 3, 3): BETA_DAY3}
    assert not segments.due()  # nothing left for the minute's poll

    # A new name changes no figure: no rebuild.
    DomainEvent.objects.all().delete()
    update_segment(workspace=workspace, segment=segment, name="Beta", flt=MemberFilter(tag=["beta"]), actor=None)
    assert segment_events() == [
        ("segment.saved", {"segment_id": segment.pk, "created": False, "filter_changed": False})
    ]
    dispatch_segment_events()
    assert state(segment).built_at == rollup.built_at

    # A new definition is rebuilt at once.
    update_segment(workspace=workspace, segment=segment, flt=MemberFilter(q="bob"), actor=None)
    assert segment_events()[-1] == (
        "segment.saved",
        {"segment_id": segment.pk, "created": False, "filter_changed": True},
    )
    dispatch_segment_events()
    rollup = state(segment)
    assert (rollup.status, rollup.members, rollup.definition) == ("ready", 1, {"q": "bob"})
    assert counters(segment)[date(2026, 3, 10)] == {**ZERO, "messages": 1, "threads": 1}

    # Deleted: its rollup and figures are gone with it.
    segment_id = segment.pk
    delete_segment(workspace=workspace, segment=segment, actor=None)
    assert segment_events()[-1] == ("segment.deleted", {"segment_id": segment_id})
    dispatch_segment_events()
    assert not SegmentRollup.objects.filter(workspace=workspace).exists()
    assert not SegmentMember.objects.filter(workspace=workspace).exists()
    assert not SegmentDaily.objects.filter(workspace=workspace).exists()


@override_settings(ANALYTICS_SEGMENTS_MAX=1)
def test_deleting_a_tracked_segment_builds_the_next_one_at_once(workspace: Workspace, fake_source: Source) -> None:
    first = setup(workspace, fake_source)
    second = create_segment(workspace=workspace, name="Bob", flt=MemberFilter(q="bob"), actor=None)
    dispatch_segment_events()
    assert state(first).status == "ready"
    assert not SegmentRollup.objects.filter(segment=second).exists()  # beyond the limit
    delete_segment(workspace=workspace, segment=first, actor=None)
    dispatch_segment_events()
    assert (state(second).status, state(second).members) == ("ready", 1)
    assert selectors.segment_status(workspace, second.pk) == selectors.SegmentStatus(state="ready")
