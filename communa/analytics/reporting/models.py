"""Reports for the company: schedules, the reports they produced, and read-only share links.

A `Report` is a snapshot: its numbers, charts and lists are computed once, when it is generated, and stored
as JSON (`data`). The email, the PDF, the page and a share link all render the same snapshot, so what the
company read on Monday does not change when a late message arrives, and a share link can never show more
than the report itself.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from communa.core.models import WorkspaceScopedModel


class Period(models.TextChoices):
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


class ReportSchedule(WorkspaceScopedModel):
    """Send the weekly or monthly report to these addresses, at this local hour, in this language."""

    name = models.CharField(_("name"), max_length=120)
    period = models.CharField(_("period"), max_length=10, choices=Period.choices, default=Period.WEEKLY)
    recipients = models.JSONField(_("recipients"), default=list)  # email addresses
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    # Weekly: sent on Monday for the week before; monthly: on the 1st for the month before; at this local hour.
    hour = models.PositiveSmallIntegerField(_("hour"), default=8)
    language = models.CharField(_("language"), max_length=10, default="en")
    enabled = models.BooleanField(_("enabled"), default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "name"], name="an_rsched_ws")]

    def __str__(self) -> str:
        return self.name


class Report(WorkspaceScopedModel):
    """One generated report: the period [start, end] (local days, inclusive) and its snapshot."""

    period = models.CharField(max_length=10, choices=Period.choices)
    start = models.DateField()
    end = models.DateField()
    language = models.CharField(max_length=10, default="en")
    schedule = models.ForeignKey(ReportSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    data = models.JSONField(default=dict)
    generated_at = models.DateTimeField()
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_to = models.JSONField(default=list, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-generated_at"], name="an_report_ws")]
        constraints = [
            # A schedule sends one report per period, however often its job runs.
            models.UniqueConstraint(
                fields=["schedule", "start"], condition=models.Q(schedule__isnull=False), name="an_report_sched_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_period_display()} {self.start:%Y-%m-%d}–{self.end:%Y-%m-%d}"


class ShareLink(WorkspaceScopedModel):
    """A read-only link to one report, for people without a login. The URL carries a signed token naming
    this row and its nonce; the row decides whether it still works (expiry, revocation)."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="share_links")
    nonce = models.CharField(max_length=32)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_viewed_at = models.DateTimeField(null=True, blank=True)
    views = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["workspace", "report"], name="an_share_ws")]
