from __future__ import annotations

from django.db import models


class DomainEvent(models.Model):
    """A fact written in the same transaction as the change it describes (a transactional outbox).

    The dispatcher fans events out after commit to the subscribers in events/subscribers.py: tasks,
    outbound webhooks, automations, live pages. Nothing hangs off Django signals.
    """

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # True while the event waits for the fast lane (subscribers in events/subscribers.py FAST_LANE): set at emit
    # for events that have such subscribers, cleared by the fast lane's claim.
    fast_pending = models.BooleanField(default=False)
    # A subscriber that keeps failing (a "poison" event): each failed try is counted here with its error; after
    # events.dispatch.MAX_ATTEMPTS the lane gives the event up (dead letter) and goes on with the next one.
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    dead_lanes = models.CharField(max_length=20, blank=True, default="")  # "fast", "main" or "fast main"

    class Meta:
        indexes = [
            models.Index(fields=["id"], name="event_fast_pending", condition=models.Q(fast_pending=True)),
            models.Index(fields=["created_at"], name="event_pending", condition=models.Q(dispatched_at=None)),
            models.Index(fields=["workspace", "name", "-created_at"], name="event_ws_name"),
            models.Index(fields=["id"], name="event_dead", condition=~models.Q(dead_lanes="")),
        ]


class PeriodicRun(models.Model):
    """When each periodic job (events/periodic.py) may run next. The claim is a conditional UPDATE on
    `next_run_at`, so with any number of workers each job runs once per period."""

    name = models.CharField(max_length=200, unique=True)
    next_run_at = models.DateTimeField()
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
