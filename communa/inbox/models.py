"""The unified inbox: conversations that need the brand's attention, who works them, and how fast.

A Conversation is the unit of work (a thread, a DM, an email thread or a mention). Triage (triage.py) opens
and updates conversations from enriched messages; people assign, note, reply and change state through
services.py; the SLA clock (sla.py) runs in business hours. Everything reports need (first response,
resolution, breaches, community answers) is emitted as domain events, so reports never scan messages.
See docs/inbox.md.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from communa.accounts.models import User
from communa.core.models import WorkspaceScopedModel


class InboxSettings(models.Model):
    """A workspace's inbox settings: when an unanswered question escalates, what counts as a brand mention."""

    workspace = models.OneToOneField("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    # A question nobody (staff or member) answered within this many minutes is escalated.
    escalate_after_minutes = models.PositiveIntegerField(_("escalate unanswered questions after (minutes)"), default=60)
    # Words that mean "the brand" besides the workspace name (product names, handles). Matched as whole
    # words, case-insensitively, with no pattern syntax.
    brand_keywords = models.JSONField(default=list, blank=True)
    # Auto-assign new conversations by the source's AssignmentRule.
    auto_assign = models.BooleanField(_("assign new conversations automatically"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"inbox settings of workspace {self.workspace_id}"


class Team(WorkspaceScopedModel):
    """A group of people conversations can be assigned to (support, moderators, the Italian volunteers)."""

    name = models.CharField(_("name"), max_length=120)
    users: models.ManyToManyField[User, TeamMembership] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="TeamMembership", related_name="inbox_teams"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="inbox_team_unique")]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    """One person in one team. The person must be a member of the team's workspace (checked by services)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="inbox_team_membership_unique")]


class SlaPolicy(WorkspaceScopedModel):
    """Response targets in business hours, for one source or (source empty) the workspace's default.

    `business_hours` maps ISO weekday numbers as strings ("1" Monday … "7" Sunday) to a list of periods
    [["09:00", "12:30"], ["13:30", "18:00"]] in `time_zone`; a period whose end is not after its start runs
    overnight into the next day (["22:00", "06:00"]). An empty mapping means around the clock. `holidays`
    lists ISO dates ("2026-12-25") with no business hours at all. See sla.py.
    """

    name = models.CharField(_("name"), max_length=120)
    source = models.ForeignKey("connectors.Source", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    first_response_minutes = models.PositiveIntegerField(_("first response within (business minutes)"), default=60)
    next_response_minutes = models.PositiveIntegerField(_("next response within (business minutes)"), default=240)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    business_hours = models.JSONField(default=dict, blank=True)
    holidays = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "source"], name="inbox_sla_source_unique"),
            models.UniqueConstraint(
                fields=["workspace"], condition=models.Q(source=None), name="inbox_sla_default_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AssignmentRule(WorkspaceScopedModel):
    """How new conversations from one source are assigned: round robin or to the least loaded eligible person.

    Round robin goes through `users` in id order after `last_assigned`; load balanced picks the eligible
    person with the fewest open+pending conversations (ties: the one assigned longest ago, then id).
    `team`, when set, is also put on the conversation.
    """

    class Strategy(models.TextChoices):
        ROUND_ROBIN = "round_robin", _("Round robin")
        LOAD_BALANCED = "load_balanced", _("Load balanced")

    source = models.ForeignKey("connectors.Source", on_delete=models.CASCADE, related_name="+", db_index=False)
    strategy = models.CharField(max_length=20, choices=Strategy.choices, default=Strategy.ROUND_ROBIN)
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+", blank=True)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    is_active = models.BooleanField(default=True)
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "source"], name="inbox_assignment_rule_unique")]


class Conversation(WorkspaceScopedModel):
    """The unit of work in the inbox: what a member (or several) needs from the brand, until resolved.

    `key` names what the conversation is about ("thread:<id>", "dm:<source>:<channel>"), unique per
    workspace, so triage finds it again and running it twice changes nothing. `version` grows with every
    change: people's state changes are conditional UPDATEs on it (optimistic concurrency, services.py).
    `priority` is the effective priority (the override when there is one, else the computed one), stored so
    the list sorts on a column; `priority_reasons` explains the computed one (codes, see priority in
    triage.py). SLA: `first_response_due` runs until the first staff answer, then `next_response_due` each
    time a member is waiting again (`waiting_since`); both in business time of `sla_policy`.
    """

    class Kind(models.TextChoices):
        THREAD = "thread", _("Thread")
        DM = "dm", _("Direct message")
        EMAIL = "email", _("Email")
        MENTION = "mention", _("Mention")

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        PENDING = "pending", _("Waiting for the member")
        SNOOZED = "snoozed", _("Snoozed")
        RESOLVED = "resolved", _("Resolved")

    class Reason(models.TextChoices):
        QUESTION = "question", _("Question")
        COMPLAINT = "complaint", _("Complaint")
        MENTION = "mention", _("Mention of the brand")
        DM = "dm", _("Direct message")
        REPLY_TO_BRAND = "reply_to_brand", _("Reply to the brand")
        FLAGGED = "flagged", _("Flagged by members")
        CONFLICT = "conflict", _("Conflict in a thread")
        MANUAL = "manual", _("Opened by a person")

    key = models.CharField(max_length=200)
    source = models.ForeignKey("connectors.Source", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.THREAD)
    thread = models.ForeignKey(
        "stream.Thread", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # The channel on the platform (Matrix room, IRC channel, mailbox folder): where replies go.
    channel = models.CharField(max_length=255, blank=True, default="")
    member = models.ForeignKey(
        "members.Member", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    first_message = models.ForeignKey(
        "stream.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # The newest member message: replies answer it (ReplyTarget) and it is what the list shows.
    last_member_message = models.ForeignKey(
        "stream.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    subject = models.CharField(max_length=500, blank=True, default="")
    preview = models.CharField(max_length=300, blank=True, default="")
    language = models.CharField(max_length=12, blank=True, default="")  # the member's, for saved replies
    reason = models.CharField(max_length=20, choices=Reason.choices)  # why it was opened
    reasons = models.JSONField(default=list, blank=True)  # every reason seen since, in order: ["question", …]
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    priority = models.SmallIntegerField(default=0)  # effective: the override, else the computed value
    priority_computed = models.SmallIntegerField(default=0)
    priority_override = models.SmallIntegerField(null=True, blank=True)
    priority_reasons = models.JSONField(default=list, blank=True)  # [{"code": "question_age", "points": 20, …}]
    priority_refresh_at = models.DateTimeField(null=True, blank=True)  # when question age next adds points
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    assigned_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField()  # when the first message that needed attention was written
    last_message_at = models.DateTimeField()  # newest message of either side (the list's default order)
    last_member_message_at = models.DateTimeField(null=True, blank=True)
    last_staff_message_at = models.DateTimeField(null=True, blank=True)
    # Since when a member has been waiting for the brand (null: the brand spoke last).
    waiting_since = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    sla_policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    first_response_due = models.DateTimeField(null=True, blank=True)
    next_response_due = models.DateTimeField(null=True, blank=True)
    first_response_breached_at = models.DateTimeField(null=True, blank=True)
    next_response_breached_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    reopen_count = models.PositiveIntegerField(default=0)
    # Answered by the community: another member answered every question before the brand did.
    answered_by_community = models.BooleanField(default=False)
    escalated_at = models.DateTimeField(null=True, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="inbox_conversation_key")]
        indexes = [
            # The list: a state, most urgent first / newest first.
            models.Index(fields=["workspace", "state", "-priority", "-last_message_at", "-id"], name="inbox_conv_list"),
            models.Index(fields=["workspace", "state", "-last_message_at", "-id"], name="inbox_conv_recent"),
            models.Index(fields=["assignee", "state", "-last_message_at"], name="inbox_conv_assignee"),
            # The tabs' capped counts (listing.tab_counts): open, mine, unassigned, pending, snoozed, each an
            # index-only scan that stops at the cap. Without it "mine" and "unassigned" were bitmap scans that
            # read every match first (15,000 at 1 M conversations): 23-36 ms of every full page.
            models.Index(fields=["workspace", "state", "assignee"], name="inbox_conv_counts"),
            models.Index(fields=["team", "state", "-last_message_at"], name="inbox_conv_team"),
            models.Index(fields=["member", "-opened_at"], name="inbox_conv_member"),
            models.Index(fields=["thread"], name="inbox_conv_thread_idx"),
            # The periodic jobs' probes: tiny partial indexes.
            models.Index(fields=["snoozed_until"], name="inbox_conv_snoozed", condition=models.Q(state="snoozed")),
            models.Index(
                fields=["first_response_due"],
                name="inbox_conv_first_due",
                condition=models.Q(first_response_breached_at=None, first_response_due__isnull=False),
            ),
            models.Index(
                fields=["next_response_due"],
                name="inbox_conv_next_due",
                condition=models.Q(next_response_breached_at=None, next_response_due__isnull=False),
            ),
            models.Index(
                fields=["priority_refresh_at"],
                name="inbox_conv_refresh",
                condition=models.Q(priority_refresh_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.subject or self.preview or f"conversation {self.pk}"

    @property
    def is_overridden(self) -> bool:
        return self.priority_override is not None


class ConversationMessage(WorkspaceScopedModel):
    """A platform message that belongs to a conversation, and which side said it.

    Questions carry their needs-reply state: answered (by staff or by another member, with the answering
    message and member) or escalated when nobody answered in time.
    """

    class Role(models.TextChoices):
        MEMBER = "member", _("Member")  # the people the conversation is about
        COMMUNITY = "community", _("Another member")  # a member answering someone else
        STAFF = "staff", _("Team")  # the brand: staff members, the bot account, replies sent through the outbox

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="items", db_index=False)
    message = models.ForeignKey("stream.Message", on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField()  # the message's time
    is_question = models.BooleanField(default=False)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.CharField(max_length=10, blank=True, default="")  # "staff" | "member"
    answer_message = models.ForeignKey(
        "stream.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    answerer_member = models.ForeignKey(
        "members.Member", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "message"], name="inbox_conversation_message_unique")
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at", "id"], name="inbox_cm_timeline"),
            models.Index(
                fields=["created_at"],
                name="inbox_cm_unanswered",
                condition=models.Q(is_question=True, answered_at=None, escalated_at=None),
            ),
        ]


class InternalNote(WorkspaceScopedModel):
    """A note for the team inside a conversation; never sent to the platform. @username mentions are resolved
    to workspace users when written and kept in `mentions`."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes", db_index=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "created_at"], name="inbox_note_timeline")]


class Activity(WorkspaceScopedModel):
    """The conversation's own timeline: opened, assigned, state changes, priority overrides, breaches.

    `data` holds ids and codes only (rendered and translated by the page), e.g. {"from": "open", "to":
    "resolved"} or {"assignee_id": 3, "team_id": null}.
    """

    class Kind(models.TextChoices):
        OPENED = "opened", _("Opened")
        REOPENED = "reopened", _("Reopened")
        STATE = "state", _("State changed")
        ASSIGNED = "assigned", _("Assigned")
        PRIORITY = "priority", _("Priority overridden")
        ESCALATED = "escalated", _("Escalated")
        SLA_BREACHED = "sla_breached", _("SLA breached")
        ANSWERED_BY_COMMUNITY = "community_answer", _("Answered by the community")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="activities", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["conversation", "created_at", "id"], name="inbox_activity_timeline")]


class Composing(models.Model):
    """ "Someone else is replying": a person has the composer of a conversation open and typed recently.

    Refreshed by the page every few seconds (services.mark_composing); older than COMPOSING_TTL it no longer
    counts (selectors.others_composing)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "user"], name="inbox_composing_unique")]


class Reply(WorkspaceScopedModel):
    """What a person wrote to the member, and how its delivery is going (mirrored from its OutboxItem).

    A failed reply keeps its text and the platform's reason (`error`), so it can be edited and sent again
    (a new OutboxItem with a new key: the attempt number is part of it). `message` is the platform message
    the reply became once it came back through ingest.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENT = "sent", _("Sent")
        UNKNOWN = "unknown", _("Checking whether it was sent")
        FAILED = "failed", _("Refused by the platform")
        CANCELLED = "cancelled", _("Cancelled")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="replies", db_index=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    in_reply_to = models.ForeignKey(
        "stream.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    saved_reply = models.ForeignKey(
        "inbox.SavedReply", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    attempt = models.PositiveIntegerField(default=1)
    outbox_item = models.ForeignKey(
        "outbox.OutboxItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    error = models.TextField(blank=True, default="")
    external_id = models.CharField(max_length=255, blank=True, default="")
    url = models.CharField(max_length=1000, blank=True, default="")
    message = models.ForeignKey(
        "stream.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "replies"
        indexes = [models.Index(fields=["conversation", "created_at"], name="inbox_reply_timeline")]


class SavedReply(WorkspaceScopedModel):
    """A canned answer with variables ({member_name}, {link:faq}, …) and a variant per language.

    `body` is the text in `language` (the fallback); `variants` hold the translations. `shortcut` is what a
    person types after "/" in the composer ("refund" for /refund), unique per workspace.
    """

    title = models.CharField(_("title"), max_length=200)
    shortcut = models.SlugField(_("shortcut"), max_length=60)
    language = models.CharField(_("language"), max_length=12, default="en")
    body = models.TextField(_("text"))
    use_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "saved replies"
        constraints = [models.UniqueConstraint(fields=["workspace", "shortcut"], name="inbox_saved_reply_shortcut")]

    def __str__(self) -> str:
        return self.title


class SavedReplyVariant(models.Model):
    """The text of a saved reply in one more language."""

    saved_reply = models.ForeignKey(SavedReply, on_delete=models.CASCADE, related_name="variants")
    language = models.CharField(_("language"), max_length=12)
    body = models.TextField(_("text"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["saved_reply", "language"], name="inbox_saved_reply_variant_unique")
        ]


class SavedLink(WorkspaceScopedModel):
    """A named link for saved replies: {link:faq} becomes the URL of the link named "faq"."""

    name = models.SlugField(_("name"), max_length=60)
    url = models.URLField(_("address"), max_length=1000)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="inbox_saved_link_unique")]

    def __str__(self) -> str:
        return self.name


class SharedView(WorkspaceScopedModel):
    """A view of the list that the whole team sees beside the built-in ones: a name and the filter's query string
    (listing.InboxFilter, normalized). Personal views stay in the person's browser."""

    name = models.CharField(_("name"), max_length=40)
    query = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="inbox_shared_view_name")]

    def __str__(self) -> str:
        return self.name
