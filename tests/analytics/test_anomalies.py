"""Anomalies: a spike against the weekday × hour baseline is found once, explained and alerted; noise is not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from communa.accounts.models import Workspace
from communa.analytics import anomalies, rollups
from communa.analytics.models import Anomaly, HourlyRollup, Notice
from communa.connectors.models import Source
from communa.events.models import DomainEvent
from tests.analytics.conftest import ingest, item

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
