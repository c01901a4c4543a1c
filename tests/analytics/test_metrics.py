"""Metrics through the selectors, against hand-computed values on the small community of test_rollups."""

from __future__ import annotations

from datetime import date

import pytest

from communa.accounts.models import Workspace
from communa.analytics import metrics, rollups, selectors
from communa.analytics.selectors import DateRange, Filters
from communa.analytics.services import record_event
from communa.connectors.models import Source
from tests.analytics.conftest import d, ingest, item, member
from tests.analytics.test_rollups import community

pytestmark = pytest.mark.django_db

MARCH = DateRange(date(2026, 3, 2), date(2026, 3, 3))


@pytest.fixture
def built(workspace: Workspace, fake_source: Source) -> Workspace:
    ids = community(workspace, fake_source)
    rollups.apply_batch(workspace=workspace, message_ids=ids)
    rollups.refresh_dirty(workspace=workspace)
    return workspace


def test_message_metrics_exact(built: Workspace) -> None:
    v = {
        key: selectors.value(built, key, MARCH)
        for key in (
            "messages",
            "threads",
            "staff_messages",
            "replies_per_thread",
            "peer_reply_share",
            "questions",
            "sentiment_negative",
            "sentiment_positive",
            "net_sentiment",
            "toxicity_rate",
            "toxic_messages",
        )
    }
    assert v == {
        "messages": 5.0,
        "threads": 2.0,
        "staff_messages": 1.0,
        "replies_per_thread": 1.5,
        "peer_reply_share": 2 / 3,
        "questions": 1.0,
        "sentiment_negative": 1 / 3,
        "sentiment_positive": 1 / 3,
        "net_sentiment": 0.0,
        "toxicity_rate": 0.2,
        "toxic_messages": 1.0,
    }


def test_series_buckets_and_compare(built: Workspace) -> None:
    points = selectors.series(built, "messages", DateRange(date(2026, 3, 1), date(2026, 3, 3)))
    assert [(p.start, p.value) for p in points] == [
        (date(2026, 3, 1), 0.0),
        (date(2026, 3, 2), 3.0),
        (date(2026, 3, 3), 2.0),
    ]
    weekly = selectors.series(built, "messages", DateRange(date(2026, 2, 25), date(2026, 3, 10)), granularity="week")
    assert [(p.start, p.end, p.value) for p in weekly] == [
        (date(2026, 2, 25), date(2026, 3, 1), 0.0),
        (date(2026, 3, 2), date(2026, 3, 8), 5.0),
        (date(2026, 3, 9), date(2026, 3, 10), 0.0),
    ]
    c = selectors.compare(built, "messages", DateRange(date(2026, 3, 3), date(2026, 3, 3)))
    assert (c.current, c.previous, c.change, c.improved) == (2.0, 3.0, -1 / 3, False)
    ratio = selectors.series(built, "peer_reply_share", DateRange(date(2026, 3, 1), date(2026, 3, 2)))
    assert [p.value for p in ratio] == [None, 0.5]


def test_member_metrics_exact(built: Workspace) -> None:
    assert selectors.value(built, "members_new", MARCH) == 3.0
    assert selectors.value(built, "members_total", MARCH) == 3.0
    assert selectors.value(built, "dau", MARCH) == 2.0
    assert selectors.value(built, "mau", MARCH) == 3.0
    assert selectors.value(built, "engagement_rate", MARCH) == 1.0
    assert selectors.value(built, "stickiness", MARCH) == pytest.approx(2 / 3)


def test_filters_by_source_and_language(built: Workspace, fake_source: Source) -> None:
    assert selectors.value(built, "messages", MARCH, Filters(source_id=fake_source.pk)) == 5.0
    assert selectors.value(built, "messages", MARCH, Filters(source_id=fake_source.pk + 1000)) == 0.0
    assert selectors.value(built, "messages", MARCH, Filters(language="it")) == 0.0
    # source and language together: computed from member-days
    assert selectors.value(built, "dau", MARCH, Filters(source_id=fake_source.pk, language="")) == 2.0


def test_drill_down_returns_the_messages_behind_a_point(built: Workspace, fake_source: Source) -> None:
    day2 = DateRange(date(2026, 3, 2), date(2026, 3, 2))
    exts = sorted(selectors.drill_messages(built, "messages", day2).values_list("external_id", flat=True))
    assert exts == ["a", "b", "c"]
    assert list(selectors.drill_messages(built, "toxic_messages", day2).values_list("external_id", flat=True)) == ["a"]
    names = sorted(selectors.drill_members(built, "members_new", MARCH).values_list("display_name", flat=True))
    assert names == ["Ana", "Bob", "Carl"]


def test_drill_down_is_workspace_scoped(built: Workspace, other_workspace: Workspace) -> None:
    assert selectors.drill_messages(other_workspace, "messages", MARCH).count() == 0
    assert selectors.value(other_workspace, "messages", MARCH) == 0.0


def test_support_metrics_from_events(built: Workspace, fake_source: Source) -> None:
    s = fake_source.pk
    for conv, opened, business in ((1, d(2, 9), 600), (2, d(2, 10), 3600), (3, d(3, 9), 7200), (4, d(3, 9), None)):
        record_event(
            workspace=built,
            name="conversation.created",
            data={"conversation_id": conv, "source_id": s, "opened_at": opened.isoformat()},
        )
        if business is not None:
            data = {
                "conversation_id": conv,
                "source_id": s,
                "at": opened.isoformat(),
                "seconds": business,
                "business_seconds": business,
                "by": "staff",
            }
            record_event(workspace=built, name="conversation.first_response", data=data)
            record_event(workspace=built, name="conversation.first_response", data={**data, "business_seconds": 1})
    for msg, by in ((1, "member"), (2, "staff"), (3, "member"), (3, "member")):
        record_event(
            workspace=built,
            name="question.answered",
            data={
                "message_id": msg,
                "conversation_id": 1,
                "source_id": s,
                "at": d(3).isoformat(),
                "seconds": 60,
                "answered_by": by,
                "answerer_member_id": None,
            },
        )
    record_event(
        workspace=built,
        name="moderation.action",
        data={
            "decision_id": 9,
            "source_id": s,
            "member_id": 1,
            "action": "remove_message",
            "rule": "r",
            "automatic": True,
            "at": d(2).isoformat(),
            "seconds_to_action": 3,
        },
    )
    assert selectors.value(built, "response_rate", MARCH) == 0.75
    assert selectors.value(built, "first_response_median", MARCH) == 3600.0
    assert selectors.value(built, "first_response_p90", MARCH) == pytest.approx(6480.0)  # 3600 + 0.8 × 3600
    assert selectors.value(built, "questions_answered", MARCH) == 3.0
    assert selectors.value(built, "peer_answer_ratio", MARCH) == pytest.approx(2 / 3)
    assert selectors.value(built, "moderation_actions", MARCH) == 1.0
    keys = {m.key for m in selectors.available_metrics(built)}
    assert {"peer_answer_ratio", "first_response_median", "moderation_actions", "sentiment_negative"} <= keys


def test_metrics_appear_when_their_data_exists(workspace: Workspace, fake_source: Source) -> None:
    ids = ingest(fake_source, [item("a", "ana", d(2))])
    rollups.apply_batch(workspace=workspace, message_ids=ids)
    keys = {m.key for m in selectors.available_metrics(workspace)}
    assert "messages" in keys
    assert "peer_answer_ratio" not in keys
    assert "sentiment_negative" not in keys


def test_lists(built: Workspace, fake_source: Source) -> None:
    top = selectors.top_contributors(built, MARCH)
    assert [(r.label, r.value) for r in top] == [("Ana", 3.0), ("Bob", 1.0), ("Carl", 1.0)]
    assert [(r.label, r.value, r.share) for r in selectors.mix(built, MARCH, "platform")] == [("fake", 5.0, 1.0)]
    assert [(r.key, r.value) for r in selectors.mix(built, MARCH, "language")] == [("", 5.0)]
    flows = selectors.lifecycle_flows(built, MARCH)
    assert flows == {("", "new"): 3}
    assert member(built, "ana").pk in {r.key for r in top}


def test_every_metric_has_a_definition_and_computes(built: Workspace) -> None:
    for m in metrics.METRICS:
        assert str(m.definition).endswith(".")
        assert str(m.label)
        selectors.series(built, m.key, MARCH)
