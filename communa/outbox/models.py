"""The one path out: every write Communa makes to a platform is an OutboxItem (see docs/architecture.md)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from communa.core.models import WorkspaceScopedModel


class OutboxItem(WorkspaceScopedModel):
    class Kind(models.TextChoices):
        REPLY = "reply", _("Reply")
        MODERATE = "moderate", _("Moderation action")

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        CLAIMED = "claimed", _("Sending")
        SENT = "sent", _("Sent")
        UNKNOWN = "unknown", _("Outcome unknown, checking the platform")
        FAILED = "failed", _("Refused by the platform")
        CANCELLED = "cancelled", _("Cancelled")

    source = models.ForeignKey("connectors.Source", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The same key never reaches the platform twice: it is unique per workspace here, and connectors pass
    # it to the platform's own idempotency (Matrix transaction ids, email Message-ID) where there is one.
    idempotency_key = models.CharField(max_length=200)
    # reply: {"target": ReplyTarget fields, "text": str}; moderate: {"action", "target": ModerationTarget
    # fields, "reason"}. Built and read only by outbox.services.
    payload = models.JSONField(default=dict)
    # Who asked, as "<app>.<thing>:<id>" (e.g. "inbox.reply:42"): outbox.* domain events carry it, so the
    # asking app can find its own row again without the outbox knowing about it.
    origin = models.CharField(max_length=120, blank=True, default="")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)  # calls actually made to the platform
    not_before = models.DateTimeField()  # a pending item waits until then (platform unreachable, rate limit)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    result_external_id = models.CharField(max_length=255, blank=True, default="")  # what the platform created
    result_url = models.CharField(max_length=1000, blank=True, default="")
    error = models.TextField(blank=True, default="")  # the platform's reason, shown to the person who sent it
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "idempotency_key"], name="outbox_key_unique"),
        ]
        indexes = [
            models.Index(
                fields=["not_before"],
                name="outbox_due",
                condition=models.Q(state__in=["pending", "claimed", "unknown"]),
            ),
            models.Index(fields=["workspace", "origin"], name="outbox_origin"),
            models.Index(fields=["source", "result_external_id"], name="outbox_result"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key} ({self.state})"

    @property
    def is_final(self) -> bool:
        return self.state in {self.State.SENT, self.State.FAILED, self.State.CANCELLED}
