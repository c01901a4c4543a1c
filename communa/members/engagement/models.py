"""Engagement tables: weighted activity, each member's score/level/lifecycle, profile facts, key people.

These are models of the `members` app (members/models.py imports this module), so their migrations live in
members/migrations.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from communa.core.models import WorkspaceScopedModel


class Level(models.TextChoices):
    NEWCOMER = "newcomer", _("Newcomer")
    PARTICIPANT = "participant", _("Participant")
    REGULAR = "regular", _("Regular")
    CHAMPION = "champion", _("Champion")


class Lifecycle(models.TextChoices):
    NEW = "new", _("New")
    ACTIVE = "active", _("Active")
    AT_RISK = "at_risk", _("At risk")
    CHURNED = "churned", _("Churned")
    RETURNING = "returning", _("Returning")


class ActivityKind(models.TextChoices):
    QUESTION = "question", _("Question asked")
    HELPFUL_REPLY = "helpful_reply", _("Helpful reply")
    FIRST_REPLY = "first_reply", _("First to reply")
    THANKED = "thanked", _("Thanked by the asker")
    ACCEPTED_ANSWER = "accepted_answer", _("Accepted answer")
    EVENT_ATTENDED = "event_attended", _("Event attended")
    POST = "post", _("Post")
    REPLY = "reply", _("Reply")
    REACTION = "reaction", _("Reaction")


class ActivityEvent(WorkspaceScopedModel):
    """One weighted thing a member did (or got credit for), the input of the score.

    `cause_id` is the message that produced it (a reply, the asker's thanks, a reaction) and makes writing it
    idempotent: one row per (cause, kind). `message` is the message credited (the helpful reply a "thanked"
    row rewards); None for activity without a message (an event attended). `member` is who gets the credit,
    moved with the message when members are merged or unmerged.
    """

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20, choices=ActivityKind.choices)
    weight = models.FloatField()
    at = models.DateTimeField()
    message = models.ForeignKey(
        "stream.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    cause_id = models.BigIntegerField()
    # Who the activity was addressed to (the asker a reply helped): the edges of the reply network.
    counterpart = models.ForeignKey(
        "members.Member", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    platform = models.CharField(max_length=120, blank=True, default="")
    language = models.CharField(max_length=12, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "cause_id", "kind"], name="activity_event_cause_kind")
        ]
        indexes = [
            models.Index(fields=["member", "-at"], name="activity_event_member_at"),
            models.Index(fields=["workspace", "-at"], name="activity_event_ws_at"),
            models.Index(fields=["message"], name="activity_event_message", condition=models.Q(message__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of member {self.member_id}"


class MemberEngagement(WorkspaceScopedModel):
    """A member's decaying score, level and lifecycle state, with what explains them.

    `score` is the value at `score_at`; it decays with the half-life until the next activity, so any later
    value is `score * 2 ** (-(t - score_at) / half_life)`: the periodic sweep needs no events to decay it.
    Staff and bots have no row.
    """

    member = models.OneToOneField(
        "members.Member", primary_key=True, on_delete=models.CASCADE, related_name="engagement"
    )
    score = models.FloatField(default=0.0)
    score_at = models.DateTimeField()
    # The score 30 days before score_at, for "rising" members.
    score_30d_ago = models.FloatField(default=0.0)
    level = models.CharField(_("level"), max_length=12, choices=Level.choices, default=Level.NEWCOMER)
    level_since = models.DateTimeField()
    # When the score fell below what the level needs; the level is lost once it stays below long enough.
    below_since = models.DateTimeField(null=True, blank=True)
    lifecycle = models.CharField(_("lifecycle"), max_length=10, choices=Lifecycle.choices, default=Lifecycle.NEW)
    lifecycle_since = models.DateTimeField()
    first_active_at = models.DateTimeField(null=True, blank=True)
    last_active_at = models.DateTimeField(null=True, blank=True)
    activity_total = models.PositiveIntegerField(default=0)
    # Activity kind → how many in the last 30 days, for the explanation.
    recent = models.JSONField(default=dict)
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "level", "-score"], name="engagement_ws_level"),
            models.Index(fields=["workspace", "lifecycle"], name="engagement_ws_lifecycle"),
            models.Index(fields=["workspace", "updated_at"], name="engagement_ws_updated"),
        ]

    def __str__(self) -> str:
        return f"engagement of member {self.member_id}"


class MemberFacts(WorkspaceScopedModel):
    """What Communa worked out about a member from their messages: languages, time zone, organisation."""

    member = models.OneToOneField("members.Member", primary_key=True, on_delete=models.CASCADE, related_name="facts")
    # Language code → messages, most used first; `main_language` is the first (indexed, for filters).
    languages = models.JSONField(default=dict)
    main_language = models.CharField(_("main language"), max_length=12, blank=True, default="")
    # Hours east of UTC, estimated from the hours of activity; None when there is too little to tell.
    utc_offset = models.SmallIntegerField(null=True, blank=True)
    utc_offset_confidence = models.FloatField(null=True, blank=True)
    organisation = models.CharField(_("organisation"), max_length=200, blank=True, default="")
    # Set by a person: never overwritten by the estimate from email domains.
    organisation_by_hand = models.BooleanField(default=False)
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["workspace", "main_language"], name="member_facts_ws_language")]

    def __str__(self) -> str:
        return f"facts of member {self.member_id}"


class KeyPeopleRun(WorkspaceScopedModel):
    """One computation of the key people of a workspace (the page shows the latest complete one)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    members = models.PositiveIntegerField(default=0)  # members in the reply network
    edges = models.PositiveIntegerField(default=0)
    # The network was cut to the most connected members to stay within the time budget.
    truncated = models.BooleanField(default=False)
    seconds = models.FloatField(default=0.0)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-started_at"], name="key_people_run_ws")]

    def __str__(self) -> str:
        return f"key people run {self.pk}"


class KeyPerson(WorkspaceScopedModel):
    """A member ranked in one category of a run, with the figures and reasons the page shows."""

    class Category(models.TextChoices):
        INFLUENCER = "influencer", _("Most influential")
        CHAMPION = "champion", _("Champions")
        RISING = "rising", _("Rising")
        BRIDGE = "bridge", _("Bridges")

    run = models.ForeignKey(KeyPeopleRun, on_delete=models.CASCADE, related_name="people", db_index=False)
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+", db_index=False)
    category = models.CharField(max_length=12, choices=Category.choices)
    rank = models.PositiveIntegerField()
    score = models.FloatField()
    figures = models.JSONField(default=dict)  # pagerank, betweenness, answers given, answered by, platforms...
    reasons = models.JSONField(default=list)  # [{"code": ..., ...}] rendered by the page

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "category", "member"], name="key_person_unique"),
        ]
        indexes = [models.Index(fields=["run", "category", "rank"], name="key_person_run_rank")]

    def __str__(self) -> str:
        return f"{self.category} #{self.rank}"
