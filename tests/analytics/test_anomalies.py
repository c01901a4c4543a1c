"""Anomalies: a spike against the weekday × hour baseline is found once, explained and alerted; noise is not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from communa.accounts.models import Workspace
from communa.analytics import anomalies, rollups
from communa.analytics.models import Anomaly, DailyRollup, HourlyRollup, Notice
from communa.connectors.models import Source
from communa.events.models import DomainEvent
from tests.analytics.conftest import d, ingest, item

pytestmark = pytest.mark.django_db
BASELINE = [10, 12, 9, 11, 10, 13, 10, 11]


def test_baseline_is_median_and_scaled_mad() -> None:
    m, spread = anomalies.baseline([10, 12, 9, 11, 10, 13, 10, 11])
    assert m == 10.5
    assert spread == pytest.approx(10.5**0.5)
    m, spread = anomalies.baseline([0, 0, 0, 100, 0, 0])
    assert (m, spread) == (0, 1.0)


def _setup(workspace: Workspace, source: Source, observed: int) -> timezone.datetime:
    hour = (timezone.now() - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    texts = ["The grinder firmware update broke my grinder", "grinder firmware bug again", "firmware grinder noise"]
    ids = ingest(source, [item(f"m{i}", f"user{i}", hour + timedelta(minutes=i), text=t) for i, t in enumerate(texts)])
    rollups.apply_batch(workspace=workspace, message_ids=ids)
    HourlyRollup.objects.filter(workspace=workspace, hour=hour).update(messages=observed)
    HourlyRollup.objects.bulk_create(
        HourlyRollup(
            workspace=workspace, hour=hour - timedelta(weeks=k + 1), source_id=source.pk, language="", messages=v
        )
        for k, v in enumerate(BASELINE)
        if hour - timedelta(weeks=k + 1) >= timezone.now() - timedelta(days=rollups.hourly_days())
    )
    return hour


def test_spike_is_detected_explained_and_alerted_once(workspace: Workspace, fake_source: Source) -> None:
    hour = _setup(workspace, fake_source, observed=40)
    found = anomalies.detect(workspace=workspace, start=hour, end=hour + timedelta(hours=1))
    again = anomalies.detect(workspace=workspace, start=hour, end=hour + timedelta(hours=1))
    assert again == []
    assert [(a.metric, a.kind, a.source_id, a.observed) for a in found] == [("volume", "spike", 0, 40.0)]
    a = found[0]
    assert a.expected == 10.5
    assert a.explanation["sources"] == [{"source_id": fake_source.pk, "messages": 3}]
    assert len(a.explanation["message_ids"]) == 3
    assert any("firmware" in t["term"] or "grinder" in t["term"] for t in a.explanation["topics"])
    assert DomainEvent.objects.filter(name="anomaly.detected", workspace=workspace).count() == 1
    assert Notice.objects.filter(workspace=workspace, anomaly=a).count() == 1


def test_normal_hour_is_not_an_anomaly(workspace: Workspace, fake_source: Source) -> None:
    hour = _setup(workspace, fake_source, observed=13)
    assert anomalies.detect(workspace=workspace, start=hour, end=hour + timedelta(hours=1)) == []
    assert Anomaly.objects.count() == 0


def test_drop_needs_a_busy_baseline(workspace: Workspace, fake_source: Source) -> None:
    hour = _setup(workspace, fake_source, observed=0)
    assert anomalies.detect(workspace=workspace, start=hour, end=hour + timedelta(hours=1)) == []


def _setup_days(workspace: Workspace, source: Source, observed: int) -> date:
    """A Monday with `observed` messages after eight Mondays of ~100; other weekdays busier (not the baseline)."""
    day = date(2026, 3, 30)  # a Monday
    texts = ["Vela 2 launch: preorder shipped?", "Vela 2 preorder question", "launch day Vela 2 grinder"]
    ids = ingest(source, [item(f"d{i}", f"user{i}", d(30, 10 + i), text=t) for i, t in enumerate(texts)])
    rollups.apply_batch(workspace=workspace, message_ids=ids)
    DailyRollup.objects.filter(workspace=workspace, day=day).update(messages=observed)
    DailyRollup.objects.bulk_create(
        [
            DailyRollup(workspace=workspace, day=day - timedelta(weeks=k + 1), source_id=source.pk, messages=v)
            for k, v in enumerate([100, 95, 110, 102, 98, 105, 99, 101])
        ]
        + [DailyRollup(workspace=workspace, day=day - timedelta(days=2), source_id=source.pk, messages=400)]
    )
    return day


def test_day_spike_against_the_same_weekday(workspace: Workspace, fake_source: Source) -> None:
    day = _setup_days(workspace, fake_source, observed=180)
    found = anomalies.detect_days(workspace=workspace, start=day, end=day)
    assert anomalies.detect_days(workspace=workspace, start=day, end=day) == []
    assert [(a.metric, a.kind, a.granularity, a.source_id, a.observed) for a in found] == [
        ("volume", "spike", "day", 0, 180.0)
    ]
    a = found[0]
    assert a.expected == 100.5  # the Mondays' median; the busy Saturday is not part of it
    assert (a.start, a.end) == (datetime(2026, 3, 30, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))
    assert a.explanation["messages"] == 3
    assert Notice.objects.filter(workspace=workspace, anomaly=a).count() == 1
    event = DomainEvent.objects.get(name="anomaly.detected", workspace=workspace)
    assert event.data["granularity"] == "day"


def test_ordinary_day_and_too_little_history_are_not_anomalies(workspace: Workspace, fake_source: Source) -> None:
    day = _setup_days(workspace, fake_source, observed=110)
    assert anomalies.detect_days(workspace=workspace, start=day, end=day) == []
    DailyRollup.objects.filter(workspace=workspace, day__lt=day - timedelta(weeks=3)).delete()
    DailyRollup.objects.filter(workspace=workspace, day=day).update(messages=900)
    assert anomalies.detect_days(workspace=workspace, start=day, end=day) == []  # 3 weeks: no baseline yet
    assert Anomaly.objects.count() == 0
