from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from communa.connectors.base import MessageKind
from communa.core.models import WorkspaceScopedModel


class Thread(WorkspaceScopedModel):
    """A conversation on a platform: a forum topic, a reply chain, an email thread, a feed entry."""

    # Indexes cost every insert: foreign keys already led by a composite index or unique constraint get no
    # index of their own (db_index=False); see Meta.
    source = models.ForeignKey("connectors.Source", on_delete=models.CASCADE, related_name="threads", db_index=False)
    external_id = models.CharField(max_length=255)
    title = models.CharField(max_length=500, blank=True, default="")
    root = models.ForeignKey(
        "stream.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    started_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()
    message_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="thread_unique")]
        indexes = [models.Index(fields=["workspace", "-last_activity_at"], name="thread_ws_activity")]


class Message(WorkspaceScopedModel):
    """Anything a person said or did on a platform. Unique per source by the platform's id."""

    source = models.ForeignKey("connectors.Source", on_delete=models.CASCADE, related_name="messages", db_index=False)
    external_id = models.CharField(max_length=255)
    kind = models.CharField(_("kind"), max_length=20, choices=[(k.value, k.value) for k in MessageKind])
    identity = models.ForeignKey("members.Identity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    member = models.ForeignKey(
        "members.Member", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    thread = models.ForeignKey(
        Thread, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    parent_external_id = models.CharField(max_length=255, blank=True, default="")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")
    title = models.CharField(max_length=500, blank=True, default="")
    text = models.TextField(blank=True, default="")
    language = models.CharField(_("language"), max_length=12, blank=True, default="")
    url = models.CharField(max_length=1000, blank=True, default="")
    created_at = models.DateTimeField(_("created at"))
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The newest platform-side version we stored; replaying an older payload never overwrites a newer one.
    revised_at = models.DateTimeField()
    ingested_at = models.DateTimeField()
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="message_unique")]
        indexes = [
            models.Index(fields=["workspace", "-created_at", "-id"], name="message_ws_created"),
            models.Index(fields=["source", "-created_at"], name="message_source_created"),
            models.Index(fields=["member", "-created_at"], name="message_member_created"),
            models.Index(fields=["thread", "created_at"], name="message_thread_created"),
            # Only replies whose parent has not arrived yet: a tiny index that ingest probes for each batch.
            models.Index(
                fields=["source", "parent_external_id"],
                name="message_orphans",
                # Written exactly as ingest's probe is, so SQLite's planner can prove the index applies.
                condition=models.Q(parent=None) & models.Q(parent_external_id__gt=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.external_id}"
