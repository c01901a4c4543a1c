"""Writes for reports: schedules, generating and sending a report, share links.

Scheduling is a claimed `next_run_at` (compare-and-set, as the poll scheduler does): the periodic job
`claim_due_schedules` moves each due schedule to its next run and enqueues one task; the task generates the
report of the period that just ended (one per schedule and period: a unique constraint) and sends it unless it
was sent already. Running either twice sends nothing twice.
"""

from __future__ import annotations

import secrets
import zoneinfo
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation

from communa.accounts.models import User, Workspace
from communa.analytics.reporting.models import Period, Report, ReportSchedule, ShareLink
from communa.audit.services import record

SHARE_SALT = "communa.analytics.share"
SHARE_DAYS_DEFAULT = 14
SHARE_DAYS_MAX = 90


def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def last_full_period(period: str, *, today: date) -> tuple[date, date]:
    """The last complete week (Monday–Sunday) or calendar month before `today`, inclusive bounds."""
    if period == Period.MONTHLY:
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    this_monday = today - timedelta(days=today.weekday())
    return this_monday - timedelta(days=7), this_monday - timedelta(days=1)


def next_run(schedule: ReportSchedule, *, after: datetime) -> datetime:
    """The first send time after `after`: Monday (weekly) or the 1st (monthly) at the schedule's local hour."""
    tz = zone(schedule.time_zone)
    local = after.astimezone(tz)
    day = local.date()
    for _ in range(40):
        due = datetime.combine(day, time(hour=schedule.hour), tzinfo=tz)
        matches = day.day == 1 if schedule.period == Period.MONTHLY else day.weekday() == 0
        if matches and due > after:
            return due
        day += timedelta(days=1)
    raise AssertionError("a Monday or a 1st comes within 40 days")  # pragma: no cover


def clean_recipients(recipients: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for address in recipients:
        address = address.strip()
        if address:
            seen.setdefault(address.lower(), None)
    return list(seen)


def create_schedule(
    *,
    workspace: Workspace,
    actor: User | None,
    name: str,
    period: str,
    recipients: Sequence[str],
    time_zone: str,
    hour: int,
    language: str,
    enabled: bool = True,
) -> ReportSchedule:
    with transaction.atomic():
        schedule = ReportSchedule(
            workspace=workspace,
            name=name,
            period=period,
            recipients=clean_recipients(recipients),
            time_zone=time_zone,
            hour=hour,
            language=language,
            enabled=enabled,
            created_by=actor,
        )
        schedule.next_run_at = next_run(schedule, after=timezone.now()) if enabled else None
        schedule.save()
        record(workspace=workspace, actor=actor, action="analytics.report_schedule.created", target=schedule)
    return schedule


def update_schedule(
    *,
    schedule: ReportSchedule,
    actor: User | None,
    name: str,
    period: str,
    recipients: Sequence[str],
    time_zone: str,
    hour: int,
    language: str,
    enabled: bool,
) -> ReportSchedule:
    with transaction.atomic():
        schedule.name, schedule.period, schedule.time_zone = name, period, time_zone
        schedule.recipients = clean_recipients(recipients)
        schedule.hour, schedule.language, schedule.enabled = hour, language, enabled
        schedule.next_run_at = next_run(schedule, after=timezone.now()) if enabled else None
        schedule.save()
        record(workspace=schedule.workspace, actor=actor, action="analytics.report_schedule.updated", target=schedule)
    return schedule


def delete_schedule(*, schedule: ReportSchedule, actor: User | None) -> None:
    with transaction.atomic():
        record(workspace=schedule.workspace, actor=actor, action="analytics.report_schedule.deleted", target=schedule)
        schedule.delete()


def generate_report(
    *,
    workspace: Workspace,
    period: str,
    start: date,
    end: date,
    language: str,
    schedule: ReportSchedule | None = None,
    actor: User | None = None,
) -> Report:
    """Compute the report's snapshot and store it. For a schedule, the period's existing report is returned."""
    from communa.analytics.reporting.content import build_report_data

    if schedule is not None:
        existing = Report.objects.filter(schedule=schedule, start=start).first()
        if existing is not None:
            return existing
    with translation.override(language):
        data = build_report_data(workspace=workspace, period=period, start=start, end=end)
    report = Report(
        workspace=workspace,
        period=period,
        start=start,
        end=end,
        language=language,
        schedule=schedule,
        data=data,
        generated_at=timezone.now(),
        generated_by=actor,
    )
    try:
        with transaction.atomic():
            report.save()
            if actor is not None:
                record(workspace=workspace, actor=actor, action="analytics.report.generated", target=report)
    except IntegrityError:  # the same schedule's task ran twice at once: keep the first
        return Report.objects.get(schedule=schedule, start=start)
    return report


def report_url(report: Report) -> str:
    return settings.BASE_URL + reverse("analytics:report", args=[report.workspace.slug, report.pk])


def send_report(*, report: Report, recipients: Sequence[str]) -> int:
    """Email the report (HTML with the charts inline, a plain-text part, the PDF attached)."""
    from communa.analytics.reporting.render import report_email_html, report_pdf, report_text

    addresses = clean_recipients(recipients)
    if not addresses:
        return 0
    with translation.override(report.language):
        subject = report.data.get("subject", str(report))
        message = EmailMultiAlternatives(
            subject=subject, body=report_text(report), from_email=settings.DEFAULT_FROM_EMAIL, to=addresses
        )
        message.attach_alternative(report_email_html(report), "text/html")
        message.attach(f"{report.workspace.slug}-{report.period}-{report.start:%Y-%m-%d}.pdf", report_pdf(report))
    sent = message.send()
    Report.objects.filter(pk=report.pk).update(sent_at=timezone.now(), sent_to=addresses)
    return sent


def claim_due_schedules(*, now: datetime | None = None) -> list[int]:
    """Move each due schedule to its next run (compare-and-set) and return the ids this caller claimed."""
    now = now or timezone.now()
    claimed = []
    due = ReportSchedule.objects.filter(enabled=True, next_run_at__lte=now).only("pk", "period", "hour", "time_zone")
    for schedule in due[:100]:
        following = next_run(schedule, after=now)
        if ReportSchedule.objects.filter(pk=schedule.pk, next_run_at=schedule.next_run_at).update(
            next_run_at=following
        ):
            claimed.append(schedule.pk)
    return claimed


def run_schedule(*, schedule_id: int, now: datetime | None = None) -> Report | None:
    """Generate and send the schedule's report for the period that ended before `now` (its local time)."""
    schedule = ReportSchedule.objects.select_related("workspace").filter(pk=schedule_id).first()
    if schedule is None or not schedule.enabled:
        return None
    today = (now or timezone.now()).astimezone(zone(schedule.time_zone)).date()
    start, end = last_full_period(schedule.period, today=today)
    report = generate_report(
        workspace=schedule.workspace,
        period=schedule.period,
        start=start,
        end=end,
        language=schedule.language,
        schedule=schedule,
    )
    if report.sent_at is None:
        try:
            send_report(report=report, recipients=schedule.recipients)
            error = ""
        except OSError as exc:  # SMTP trouble: visible on the schedule, retried at the next run
            error = f"{type(exc).__name__}: {exc}"[:2000]
        ReportSchedule.objects.filter(pk=schedule.pk).update(
            last_sent_at=timezone.now() if not error else schedule.last_sent_at, last_error=error
        )
    return report


# Share links


def share_token(link: ShareLink) -> str:
    return signing.dumps({"l": link.pk, "n": link.nonce}, salt=SHARE_SALT, compress=True)


def share_url(link: ShareLink) -> str:
    return settings.BASE_URL + reverse("analytics_shared:report", args=[share_token(link)])


def create_share_link(*, report: Report, actor: User | None, days: int = SHARE_DAYS_DEFAULT) -> ShareLink:
    days = max(1, min(days, SHARE_DAYS_MAX))
    with transaction.atomic():
        link = ShareLink.objects.create(
            workspace=report.workspace,
            report=report,
            nonce=secrets.token_urlsafe(16),
            expires_at=timezone.now() + timedelta(days=days),
            created_by=actor,
        )
        record(
            workspace=report.workspace,
            actor=actor,
            action="analytics.share_link.created",
            target=report,
            data={"share_link": link.pk, "expires_at": link.expires_at.isoformat()},
        )
    return link


def revoke_share_link(*, link: ShareLink, actor: User | None) -> None:
    with transaction.atomic():
        ShareLink.objects.filter(pk=link.pk, revoked_at=None).update(revoked_at=timezone.now())
        record(
            workspace=link.workspace,
            actor=actor,
            action="analytics.share_link.revoked",
            target=link.report,
            data={"share_link": link.pk},
        )


def resolve_share(token: str) -> ShareLink | None:
    """The live share link a token names, or None (bad signature, unknown, revoked, expired)."""
    try:
        payload = signing.loads(token, salt=SHARE_SALT)
        pk, nonce = int(payload["l"]), str(payload["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    link = ShareLink.objects.select_related("report", "workspace").filter(pk=pk).first()
    if link is None or not secrets.compare_digest(link.nonce, nonce):
        return None
    if link.revoked_at is not None or link.expires_at <= timezone.now():
        return None
    ShareLink.objects.filter(pk=link.pk).update(views=link.views + 1, last_viewed_at=timezone.now())
    return link
