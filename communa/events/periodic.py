"""Periodic jobs: one explicit, greppable table of what runs every N seconds, run by the worker's scheduler.

A job is the import path of a function taking no arguments. It should be quick (claim due rows, enqueue
tasks) and safe to run twice: a crash after it ran but before the next claim runs it again. Each app adds
its lines here (outbox sweep, SLA checks, rollups, anomaly checks, scheduled reports).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import cache

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from communa.events.models import PeriodicRun

logger = logging.getLogger(__name__)

# import path → period in seconds
PERIODIC: dict[str, float] = {
    "communa.outbox.tasks.sweep_outbox": 2.0,  # waiting writes go out, unknown outcomes are settled
    "communa.moderation.tasks.lift_expired": 30.0,  # timed mutes and bans that ran out: unmute / unban
    "communa.members.engagement.tasks.sweep_due": 3600.0,  # score decay, slow demotions, at-risk/churned
    "communa.members.engagement.tasks.key_people_due": 900.0,  # key people snapshot, every 6 h per workspace
    "communa.webhooks.tasks.retry_due": 15.0,  # webhook deliveries whose retry time has come
    "communa.analytics.reporting.tasks.send_due_reports": 300.0,  # scheduled weekly/monthly company reports
    "communa.inbox.tasks.periodic_sweep": 30.0,  # snoozes end, questions escalate, SLA breaches, waiting points
    "communa.members.privacy.enqueue_due_retention": 3600,  # message retention per workspace
}

# Analytics (communa/analytics/tasks.py): distinct counts of dirty days, topics, goals, anomalies, hourly pruning.
PERIODIC.update(
    {
        "communa.analytics.tasks.refresh_job": 60.0,
        "communa.analytics.tasks.topics_job": 900.0,
        "communa.analytics.tasks.goals_job": 3600.0,
        "communa.analytics.tasks.anomalies_job": 900.0,
        "communa.analytics.tasks.prune_job": 86400.0,
    }
)


@cache
def _job(path: str) -> Callable[[], object]:
    func: Callable[[], object] = import_string(path)
    return func


def claim(name: str, *, every: float) -> bool:
    """True for exactly one caller per period, across processes and machines."""
    now = timezone.now()
    following = now + timedelta(seconds=every)
    claimed = PeriodicRun.objects.filter(name=name, next_run_at__lte=now).update(
        next_run_at=following, last_started_at=now
    )
    if claimed:
        return True
    try:
        with transaction.atomic():
            PeriodicRun.objects.create(name=name, next_run_at=following, last_started_at=now)
    except IntegrityError:
        return False  # it exists and is not due: someone ran it this period
    return True


def run_due(table: dict[str, float] | None = None) -> list[str]:
    """Run every job whose period has come; return the names that ran. A failing job does not stop the rest."""
    ran = []
    for path, every in (PERIODIC if table is None else table).items():
        if not claim(path, every=every):
            continue
        ran.append(path)
        try:
            _job(path)()
            error = ""
        except Exception as exc:
            logger.exception("periodic job %s failed", path)
            error = f"{type(exc).__name__}: {exc}"[:2000]
        PeriodicRun.objects.filter(name=path).update(last_error=error)
    return ran
