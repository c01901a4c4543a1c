from __future__ import annotations

import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _

from communa.core.models import TimeStampedModel, WorkspaceScopedModel


class SourceStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    RETRYING = "retrying", _("Retrying")
    DISABLED = "disabled", _("Disabled by an error")


def _webhook_token() -> str:
    return secrets.token_urlsafe(24)


class Source(WorkspaceScopedModel, TimeStampedModel):
    """A connected place: a feed, a room, a mailbox. Its connector is chosen by `kind`."""

    kind = models.CharField(_("kind"), max_length=40)
    name = models.CharField(_("name"), max_length=120)
    config = models.JSONField(default=dict, blank=True)  # non-secret settings, validated by Connector.Config
    secrets = models.TextField(blank=True, default="")  # Fernet token of the SecretStr fields (core.crypto)
    status = models.CharField(max_length=20, choices=SourceStatus.choices, default=SourceStatus.ACTIVE)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failure_count = models.PositiveIntegerField(default=0)
    cursor = models.JSONField(default=dict, blank=True)
    # Kept by ingest in the batch's transaction, so lists never count a source's messages.
    message_count = models.PositiveBigIntegerField(default=0)
    poll_interval = models.PositiveIntegerField(_("poll every (seconds)"), default=300)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    # Public, unguessable part of the webhook URL; the HMAC secret is separate and encrypted.
    webhook_token = models.CharField(max_length=64, unique=True, default=_webhook_token)
    # Streaming sources (Matrix /sync, IRC, IMAP IDLE) are followed by one listener at a time, on whichever
    # worker holds the lease; a worker that dies stops renewing it and another takes over.
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_poll_at"], name="source_due"),
            models.Index(fields=["workspace", "name"], name="source_ws_name"),
        ]

    def __str__(self) -> str:
        return self.name
