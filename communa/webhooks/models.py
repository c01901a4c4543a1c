"""Outbound webhooks: a workspace's endpoints and every delivery made to them (see docs/webhooks.md)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from communa.core.models import WorkspaceScopedModel


class WebhookEndpoint(WorkspaceScopedModel):
    """A URL that receives the workspace's domain events it subscribed to, signed with its own secret."""

    name = models.CharField(_("name"), max_length=120)
    url = models.URLField(_("URL"), max_length=1000)
    # Fernet token of {"secret": "whsec_..."} (core.crypto), like a source's secrets.
    secret = models.TextField(blank=True, default="")
    events = models.JSONField(_("events"), default=list)  # event names, e.g. ["conversation.created"]
    active = models.BooleanField(_("active"), default=True)
    # Why Communa turned it off (too many consecutive failures); empty when a person paused it.
    disabled_reason = models.TextField(blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "active"], name="webhook_ws_active")]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(WorkspaceScopedModel):
    """One event for one endpoint: its body (fixed at creation, so retries send the same bytes) and its fate."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Gave up")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    event = models.ForeignKey("events.DomainEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The webhook-id header: the same on every attempt, so receivers can drop duplicates.
    message_id = models.CharField(max_length=64)
    event_name = models.CharField(max_length=80)
    body = models.TextField()  # the exact JSON sent (signatures cover these bytes)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)  # a sender that died lets go after this
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_response = models.TextField(blank=True, default="")  # the first KB of the receiver's answer
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # One entry per attempt: {"at", "status_code", "error", "ms"}; bounded by MAX_ATTEMPTS.
    log = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["endpoint", "message_id"], name="webhook_delivery_unique")]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_recent"),
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=models.Q(state__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} → {self.endpoint_id} ({self.state})"
