from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import OrderBy
from django.utils.translation import gettext_lazy as _

from communa.core.models import WorkspaceScopedModel


class ListOrderIndex(models.Index):
    """An index in a list's sort order, NULLS LAST included on PostgreSQL. SQLite refuses NULLS LAST in an
    index but puts NULLs last in a descending order anyway: there the same index without the clause."""

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor == "postgresql":
            return super().create_sql(model, schema_editor, using, **kwargs)
        plain = [
            OrderBy(e.expression, descending=e.descending) if isinstance(e, OrderBy) else e for e in self.expressions
        ]
        return models.Index(*plain, name=self.name).create_sql(model, schema_editor, using, **kwargs)


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
    # Erased on request (members/privacy.py): the row stays, empty, so that counts of messages stay right.
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The list's default order (last seen first, never-seen last, newest id first) read straight off the
            # index: with a segment, PostgreSQL walks it and stops at the first page of matches.
            ListOrderIndex(
                "workspace",
                models.F("last_seen_at").desc(nulls_last=True),
                models.F("id").desc(),
                name="member_ws_seen_page",
            ),
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


# --- annotations: tags, notes, custom fields, consent (members/annotations.py) ----------------------------


class Tag(WorkspaceScopedModel):
    """A label a team puts on members ("beta tester", "speaker"), shared in the workspace."""

    name = models.CharField(_("name"), max_length=60)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="member_tag_name_unique")]

    def __str__(self) -> str:
        return self.name


class MemberTag(WorkspaceScopedModel):
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="tag_links", db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="member_links", db_index=False)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member", "tag"], name="member_tag_unique")]
        indexes = [models.Index(fields=["tag", "member"], name="member_tag_by_tag")]


class Note(WorkspaceScopedModel):
    """A staff-internal note about a member: never shown to the member, included in their data export."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="notes", db_index=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(_("note"))
    created_at = models.DateTimeField()
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["member", "-created_at"], name="member_note_member")]


class CustomField(WorkspaceScopedModel):
    """A field the workspace defines for its members (plan, country, joined the beta on)."""

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Choice")

    key = models.SlugField(_("key"), max_length=50)
    label = models.CharField(_("label"), max_length=100)
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices, default=Kind.TEXT)
    choices = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="custom_field_key_unique")]

    def __str__(self) -> str:
        return self.label


class CustomFieldValue(WorkspaceScopedModel):
    """One member's value of one field, in the column of the field's type (text also holds choices)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="field_values", db_index=False)
    field = models.ForeignKey(CustomField, on_delete=models.CASCADE, related_name="values", db_index=False)
    text = models.CharField(max_length=1000, blank=True, default="")
    number = models.FloatField(null=True, blank=True)
    date = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member", "field"], name="custom_field_value_unique")]
        indexes = [
            models.Index(fields=["field", "text"], name="custom_value_text"),
            models.Index(fields=["field", "number"], name="custom_value_number"),
            models.Index(fields=["field", "date"], name="custom_value_date"),
        ]


class Consent(WorkspaceScopedModel):
    """What a member agreed to (or withdrew), when, and where it was given. History: the latest row per topic
    is the current state."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="consents", db_index=False)
    topic = models.CharField(_("topic"), max_length=120)
    granted = models.BooleanField(_("granted"))
    given_at = models.DateTimeField(_("when"))
    source = models.CharField(_("source"), max_length=200, blank=True, default="")
    note = models.TextField(_("note"), blank=True, default="")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["member", "topic", "-given_at"], name="member_consent_member")]


# --- segments (members/segments.py) ------------------------------------------------------------------------


class Segment(WorkspaceScopedModel):
    """A saved member filter, shared in the workspace: used by the list, the API, exports, analytics, publishing."""

    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=500, blank=True, default="")
    filter = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="segment_name_unique")]

    def __str__(self) -> str:
        return self.name


# --- CSV import (members/csv_io.py) ------------------------------------------------------------------------


class MemberImport(WorkspaceScopedModel):
    """One CSV file of members: uploaded, previewed and mapped by a person, then run by a task.

    The file's text is kept only until the import is done (then emptied: it holds personal data)."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Waiting for confirmation")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    filename = models.CharField(max_length=255)
    content = models.TextField(blank=True, default="")
    delimiter = models.CharField(max_length=1, default=",")
    columns = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)  # column index (as text) → target ("name", "email", "handle:<p>", …)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list)  # [[line, message], ...], the first 1,000
    failure = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at"], name="member_import_ws")]

    def __str__(self) -> str:
        return self.filename


# --- privacy (members/privacy.py) --------------------------------------------------------------------------


class RetentionPolicy(WorkspaceScopedModel):
    """How long a workspace keeps messages: older ones are deleted, or anonymised (text gone, row and counts
    kept). No row, or no days: kept forever."""

    class Action(models.TextChoices):
        ANONYMISE = "anonymise", _("Anonymise (remove text, keep counts)")
        DELETE = "delete", _("Delete")

    message_days = models.PositiveIntegerField(_("keep messages for (days)"), null=True, blank=True)
    action = models.CharField(_("then"), max_length=10, choices=Action.choices, default=Action.ANONYMISE)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace"], name="retention_policy_workspace")]


# Engagement, levels, lifecycle, profile facts and key people: members models kept in their own module, imported
# here so that Django finds them with the app's other models.
from communa.members.engagement.models import (  # noqa: E402, F401
    ActivityEvent,
    KeyPeopleRun,
    KeyPerson,
    MemberEngagement,
    MemberFacts,
)
