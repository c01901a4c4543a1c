"""Moderation tables: rule set versions, decisions and their actions, the review queue, strikes, appeals,
conflict alerts.

Reports read `Decision`, `DecisionAction` and `Appeal` through their indexes; nothing here is computed by
scanning messages.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from communa.core.models import WorkspaceScopedModel


class RuleMode(models.TextChoices):
    ENABLED = "enabled", _("Enabled")
    LOG_ONLY = "log_only", _("Log only")
    DISABLED = "disabled", _("Disabled")


class ModerationSettings(WorkspaceScopedModel):
    """Per-workspace moderation settings and which rule set version is live."""

    active_rule_set = models.ForeignKey(
        "moderation.RuleSet", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    strike_days = models.PositiveIntegerField(_("strikes expire after (days)"), default=90)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace"], name="moderation_settings_unique")]


class RuleSet(WorkspaceScopedModel):
    """One saved version of a workspace's rules. Never edited: every save is a new version.

    `modes` maps a rule's name to enabled / log / disabled; a rule missing from it is enabled.
    """

    version = models.PositiveIntegerField()
    text = models.TextField()
    modes = models.JSONField(default=dict, blank=True)
    rule_names = models.JSONField(default=list, blank=True)
    comment = models.CharField(max_length=300, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "version"], name="ruleset_version_unique")]

    def __str__(self) -> str:
        return f"rules v{self.version}"

    def mode_of(self, rule: str) -> str:
        return str(self.modes.get(rule, RuleMode.ENABLED))


class Backtest(WorkspaceScopedModel):
    """A dry run of one rule set version over past messages, with what it would have done."""

    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="backtests")
    days = models.PositiveIntegerField()
    since = models.DateTimeField()
    until = models.DateTimeField()
    messages = models.PositiveIntegerField(default=0)
    acted = models.PositiveIntegerField(default=0)  # messages at least one enabled rule would have acted on
    by_rule = models.JSONField(default=dict)  # {rule: {"matches": n, "actions": {action: n}}}
    examples = models.JSONField(default=list)  # [{message_id, rule, explanation, text, author, at}]
    warning_share = models.FloatField(default=0.05)  # the rule set's `backtest_warning`
    warnings = models.JSONField(default=list)  # plain-text warnings to read before enabling
    too_broad = models.BooleanField(default=False)
    seconds = models.FloatField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    @property
    def percent(self) -> float:
        return 100.0 * self.acted / self.messages if self.messages else 0.0

    @property
    def warn_percent(self) -> float:
        return 100.0 * self.warning_share


class BacktestMark(WorkspaceScopedModel):
    """A moderator's verdict on a backtest example: would the rule have been right to act on this message?

    Keyed by the rule's id and the message, not by the backtest: when the same rule (any version) is backtested
    again and the same message comes back as an example, the mark is already there.
    """

    class Verdict(models.TextChoices):
        CORRECT = "correct", _("Correct")
        WRONG = "wrong", _("Would be wrong")

    rule_id = models.CharField(max_length=120)
    message = models.ForeignKey("stream.Message", on_delete=models.CASCADE, related_name="+")
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    marked_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "rule_id", "message"], name="backtest_mark_unique"),
        ]


class Decision(WorkspaceScopedModel):
    """What was decided about a message or a member, by a rule or by a moderator, and why."""

    # Not a column: services.decide sets it on the instance it returns (the actions it recorded).
    carried_out: list[DecisionAction]

    class Kind(models.TextChoices):
        RULE = "rule", _("Rule")
        MODERATOR = "moderator", _("Moderator")

    kind = models.CharField(max_length=12, choices=Kind.choices)
    # live: carried out; log: a log-only rule recorded what it would have done.
    live = models.BooleanField(default=True)
    message = models.ForeignKey(
        "stream.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    member = models.ForeignKey(
        "members.Member", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    source = models.ForeignKey(
        "connectors.Source", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    rule_set = models.ForeignKey(
        RuleSet, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    rule = models.CharField(max_length=120, blank=True, default="")
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The verdict in one word, for reports: approve, remove, warn, mute, kick, ban, ban_everywhere, queue, flag.
    verdict = models.CharField(max_length=20)
    explanation = models.JSONField(default=dict)  # {"summary": str, "reasons": [...], "excerpt": str, ...}
    reason = models.CharField(max_length=500, blank=True, default="")  # said to the member
    # For rule decisions: one per (message, rule), so a replayed event decides nothing twice.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 — NULL: not deduplicated
    message_at = models.DateTimeField(null=True, blank=True)
    seconds_to_action = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "dedupe_key"],
                name="decision_dedupe",
                condition=models.Q(dedupe_key__isnull=False),
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="decision_ws_created"),
            models.Index(fields=["workspace", "rule", "created_at"], name="decision_ws_rule"),
            models.Index(fields=["workspace", "moderator", "created_at"], name="decision_ws_moderator"),
            models.Index(fields=["member", "-created_at"], name="decision_member"),
            models.Index(fields=["message"], name="decision_message"),
        ]

    def __str__(self) -> str:
        return f"decision {self.pk}: {self.verdict}"

    @property
    def summary(self) -> str:
        return str(self.explanation.get("summary", ""))

    @property
    def shown_text(self) -> str:
        """The message as it was when decided (a removal blanks the stored text), else what is known of it."""
        text = self.explanation.get("message_text") or (self.message.text if self.message is not None else "")
        return str(text or self.explanation.get("excerpt", ""))


class DecisionAction(WorkspaceScopedModel):
    """One thing done for a decision: a platform action through the outbox, or a Communa-side step."""

    class Action(models.TextChoices):
        REMOVE = "remove", _("Remove the message")
        MUTE = "mute", _("Mute")
        UNMUTE = "unmute", _("Unmute")
        KICK = "kick", _("Kick")
        BAN = "ban", _("Ban")
        UNBAN = "unban", _("Unban")
        REPLY = "reply", _("Reply")
        WARN = "warn", _("Warn")
        TAG = "tag", _("Tag")
        NOTIFY = "notify", _("Notify")
        ESCALATE = "escalate", _("Escalate")
        QUEUE = "queue", _("Queue for review")
        STRIKE = "strike", _("Strike")
        APPROVE = "approve", _("Approve")

    class State(models.TextChoices):
        PENDING = "pending", _("Sending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        UNKNOWN = "unknown", _("Checking the platform")
        LOGGED = "logged", _("Logged only")
        SKIPPED = "skipped", _("Not possible here")

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="actions")
    action = models.CharField(max_length=12, choices=Action.choices)
    source = models.ForeignKey(
        "connectors.Source", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    channel = models.CharField(max_length=255, blank=True, default="")
    target_user = models.CharField(max_length=255, blank=True, default="")
    params = models.JSONField(default=dict, blank=True)  # {"seconds": 600} {"text": "..."} {"tag": "..."}
    outbox_key = models.CharField(max_length=200, blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # A timed mute: when the unmute is due, and when it was enqueued (or the mute reversed).
    expires_at = models.DateTimeField(null=True, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "action", "created_at"], name="decisionaction_ws_action"),
            models.Index(
                fields=["expires_at"],
                name="decisionaction_unmute_due",
                condition=models.Q(action__in=["mute", "ban"], lifted_at__isnull=True, expires_at__isnull=False),
            ),
            models.Index(fields=["workspace", "outbox_key"], name="decisionaction_outbox"),
        ]

    def __str__(self) -> str:
        return f"{self.action} ({self.state})"


class ReviewItem(WorkspaceScopedModel):
    """A flagged message waiting for a person. One open item per message."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED = "resolved", _("Resolved")

    message = models.ForeignKey("stream.Message", on_delete=models.CASCADE, related_name="+", db_index=False)
    member = models.ForeignKey(
        "members.Member", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    reason = models.CharField(max_length=300, blank=True, default="")
    explanation = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=20, blank=True, default="")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message"], name="reviewitem_open_message", condition=models.Q(state="open")
            )
        ]
        indexes = [models.Index(fields=["workspace", "state", "created_at"], name="reviewitem_queue")]

    def __str__(self) -> str:
        return f"review item {self.pk}"

    @property
    def shown_text(self) -> str:
        """The message as it was when flagged (a removal blanks the stored text)."""
        return str(self.message.text or self.explanation.get("message_text") or self.explanation.get("excerpt", ""))


class Strike(WorkspaceScopedModel):
    """A mark on a member for breaking a guideline; counts until it expires or is removed."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+", db_index=False)
    decision = models.ForeignKey(Decision, null=True, blank=True, on_delete=models.SET_NULL, related_name="strikes")
    rule = models.CharField(max_length=120, blank=True, default="")
    reason = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["decision"], name="strike_one_per_decision", condition=models.Q(decision__isnull=False)
            )
        ]
        indexes = [models.Index(fields=["member", "-created_at"], name="strike_member")]

    def __str__(self) -> str:
        return f"strike {self.pk}"


class Appeal(WorkspaceScopedModel):
    """A member's request to reverse a decision; decided by someone other than the original moderator."""

    class Channel(models.TextChoices):
        LINK = "link", _("Appeal link")
        EMAIL = "email", _("Email reply")
        MESSAGE = "message", _("Message to the team")
        STAFF = "staff", _("Entered by the team")

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        UPHELD = "upheld", _("Upheld")
        OVERTURNED = "overturned", _("Overturned")

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="appeals")
    member = models.ForeignKey(
        "members.Member", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    statement = models.TextField()
    contact = models.CharField(max_length=254, blank=True, default="")
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    response = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["decision"], name="appeal_one_open_per_decision", condition=models.Q(state="open")
            )
        ]
        indexes = [models.Index(fields=["workspace", "state", "created_at"], name="appeal_ws_state")]

    def __str__(self) -> str:
        return f"appeal {self.pk}"


class ConflictAlert(WorkspaceScopedModel):
    """A thread that is heating up, with the score and the reasons; at most one open alert per thread."""

    thread = models.ForeignKey("stream.Thread", on_delete=models.CASCADE, related_name="+", db_index=False)
    source = models.ForeignKey("connectors.Source", on_delete=models.CASCADE, related_name="+", db_index=False)
    score = models.FloatField()
    reasons = models.JSONField(default=list)
    message_ids = models.JSONField(default=list)
    members = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="conflict_ws_created"),
            models.Index(fields=["thread", "-created_at"], name="conflict_thread"),
        ]

    def __str__(self) -> str:
        return f"conflict alert {self.pk}"
