"""Scheduled reports: the periodic job claims due schedules and enqueues one task each (see services)."""

from __future__ import annotations

from django_tasks import task


@task(queue_name="default")
def send_scheduled_report_task(schedule_id: int) -> int | None:
    """Generate and send the schedule's report for the period that just ended; safe to run twice."""
    from communa.analytics.reporting.services import run_schedule

    report = run_schedule(schedule_id=schedule_id)
    return report.pk if report else None


def send_due_reports() -> int:
    """Periodic job (events/periodic.py): enqueue a task for each schedule whose time has come."""
    from communa.analytics.reporting.services import claim_due_schedules

    claimed = claim_due_schedules()
    for schedule_id in claimed:
        send_scheduled_report_task.enqueue(schedule_id)
    return len(claimed)
