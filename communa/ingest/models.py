from __future__ import annotations

from django.db import models


class RawEvent(models.Model):
    """A platform payload exactly as received, stored before anything else so nothing is ever lost."""

    # Served by the unique (source, external_id) index: no index of its own.
    source = models.ForeignKey("connectors.Source", on_delete=models.CASCADE, related_name="raw_events", db_index=False)
    external_id = models.CharField(max_length=255)
    payload = models.JSONField()
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="raw_event_unique")]
        indexes = [
            models.Index(
                fields=["source", "received_at"], name="raw_event_pending", condition=models.Q(processed_at=None)
            )
        ]


class RejectedEvent(models.Model):
    """An inbound push we refused (bad signature, malformed, too large): kept for the operator to see why."""

    source = models.ForeignKey("connectors.Source", null=True, on_delete=models.CASCADE, related_name="rejections")
    status = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=500)
    body_excerpt = models.TextField(blank=True, default="")  # first 2 KB, decoded with replacement
    remote_addr = models.CharField(max_length=64, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
