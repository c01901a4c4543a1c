"""Periodic jobs run once per period, whatever the number of schedulers, and one failure does not stop others."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from communa.events.models import PeriodicRun
from communa.events.periodic import claim, run_due

pytestmark = pytest.mark.django_db

CALLS: list[str] = []


def job_ok() -> None:
    CALLS.append("ok")


def job_fails() -> None:
    raise RuntimeError("boom")


def test_claim_is_won_once_per_period() -> None:
    assert claim("x", every=60) is True
    assert claim("x", every=60) is False
    PeriodicRun.objects.filter(name="x").update(next_run_at=timezone.now() - timedelta(seconds=1))
    assert claim("x", every=60) is True
    assert claim("x", every=60) is False


def test_run_due_runs_each_due_job_and_records_failures() -> None:
    CALLS.clear()
    table = {"tests.test_periodic.job_fails": 60.0, "tests.test_periodic.job_ok": 60.0}
    assert run_due(table) == list(table)
    assert CALLS == ["ok"]
    assert PeriodicRun.objects.get(name="tests.test_periodic.job_fails").last_error == "RuntimeError: boom"
    assert PeriodicRun.objects.get(name="tests.test_periodic.job_ok").last_error == ""
    assert run_due(table) == []  # not due again within the period
    assert CALLS == ["ok"]
