from __future__ import annotations

from django.db import models

from communa.core.models import WorkspaceScopedModel


class Member(WorkspaceScopedModel):
    """A person in a community. Starts with one identity; identity resolution (issue 7) merges more in."""

    display_name = models.CharField(max_length=200, blank=True, default="")
    # The identity this member was created for; lets ingest create members set-based and find them again.
    origin_identity = models.OneToOneField(
        "members.Identity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_bot = models.BooleanField(default=False)
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-last_seen_at"], name="member_ws_seen")]

    def __str__(self) -> str:
        return self.display_name or f"member {self.pk}"


class Identity(WorkspaceScopedModel):
    """A handle on one platform. `platform` scopes `external_id` (e.g. "matrix:example.org")."""

    platform = models.CharField(max_length=120)
    external_id = models.CharField(max_length=255)
    handle = models.CharField(max_length=255, blank=True, default="")
    display_name = models.CharField(max_length=200, blank=True, default="")
    email = models.CharField(max_length=254, blank=True, default="")
    url = models.CharField(max_length=500, blank=True, default="")
    is_bot = models.BooleanField(default=False)
    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.SET_NULL, related_name="identities")
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "platform", "external_id"], name="identity_unique")]

    def __str__(self) -> str:
        return self.display_name or self.handle or self.external_id
