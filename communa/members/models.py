from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from communa.core.models import WorkspaceScopedModel


class Member(WorkspaceScopedModel):
    """A person in a community. Starts with one identity; identity resolution merges more in.

    A member merged into another is kept as a tombstone (`merged_into` set, no identities, no messages) so
    that undoing the merge brings back the very same row, id and all.
    """

    display_name = models.CharField(max_length=200, blank=True, default="")
    # The identity this member was created for; lets ingest create members set-based and find them again.
    origin_identity = models.OneToOneField(
        "members.Identity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_bot = models.BooleanField(default=False)
    # Someone who speaks for the brand (a community manager's own account, the brand's account): their
    # answers are staff answers in the inbox and analytics, and they are left out of engagement and levels.
    is_staff = models.BooleanField(_("team member"), default=False, db_default=False)
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Kept up to date after each ingested batch and each merge (services.refresh_activity), so the member
    # list sorts on a column instead of counting messages per member on every page.
    message_count = models.PositiveIntegerField(default=0, db_default=0)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_members", db_index=False
    )

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-last_seen_at"], name="member_ws_seen"),
            models.Index(fields=["workspace", "-first_seen_at", "-id"], name="member_ws_first_seen"),
            models.Index(fields=["workspace", "-message_count", "-id"], name="member_ws_count"),
            models.Index(
                fields=["merged_into"], name="member_merged_into", condition=models.Q(merged_into__isnull=False)
            ),
        ]

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
    # Blocking keys for identity resolution (members/resolution.py), computed after ingest. Candidates are
    # identities sharing a key, found through these indexes: never a comparison of all pairs. Empty: no key.
    # db_default, because ingest inserts identities naming only the columns it knows.
    email_key = models.CharField(max_length=254, blank=True, default="", db_default="")
    handle_key = models.CharField(max_length=255, blank=True, default="", db_default="")
    name_key = models.CharField(max_length=200, blank=True, default="", db_default="")
    # The handle, name and email the keys were computed from; a mismatch means they need recomputing.
    keyed_from = models.CharField(max_length=40, blank=True, default="", db_default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "platform", "external_id"], name="identity_unique")]
        indexes = [
            models.Index(
                fields=["workspace", "email_key"], name="identity_email_key", condition=~models.Q(email_key="")
            ),
            models.Index(
                fields=["workspace", "handle_key"], name="identity_handle_key", condition=~models.Q(handle_key="")
            ),
            models.Index(fields=["workspace", "name_key"], name="identity_name_key", condition=~models.Q(name_key="")),
        ]

    def __str__(self) -> str:
        return self.display_name or self.handle or self.external_id


class TrustedEmailPlatform(WorkspaceScopedModel):
    """An operator-defined rule: emails reported by identities on `platform` are verified.

    Emails are verified by default only on the "email" platform (a mailbox saw the address send mail). An
    operator who knows a platform checks addresses (a forum that confirms them) adds it here; then two
    identities with the same verified email are merged without asking.
    """

    platform = models.CharField(_("platform"), max_length=120)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "platform"], name="trusted_email_platform_unique")]

    def __str__(self) -> str:
        return self.platform


class MergeSuggestion(WorkspaceScopedModel):
    """Two members who may be one person, with a score in [0, 1] and the reasons. `member_a` < `member_b`.

    A rejected suggestion stays, so the pair (and any pair of the members merged into them) is never
    suggested again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")

    member_a = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+", db_index=False)
    member_b = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()
    reasons = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member_a", "member_b"], name="merge_suggestion_pair"),
            models.CheckConstraint(
                condition=models.Q(member_a__lt=models.F("member_b")), name="merge_suggestion_order"
            ),
        ]
        indexes = [models.Index(fields=["workspace", "status", "-score", "id"], name="merge_suggestion_queue")]


class MergeRecord(WorkspaceScopedModel):
    """One merge of `merged` into `into`, with the exact snapshot that undoing it restores.

    `snapshot` holds ids and the two members' own fields before the merge: no message text.
    """

    into = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    merged = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+", db_index=False)
    snapshot = models.JSONField()
    reason = models.CharField(max_length=20)  # "suggestion", "manual", "verified_email"
    suggestion = models.ForeignKey(
        MergeSuggestion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_at = models.DateTimeField()
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undone_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"merge {self.pk}"
