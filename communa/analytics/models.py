"""Analytics tables: a per-message ledger, rollups the dashboards read, facts from domain events, goals,
anomalies and notices.

How the numbers stay right (see rollups.py):
- `MessageFact` is the ledger: what each message contributed the last time it was counted. Processing a
  batch computes each message's contribution anew, subtracts the old one and adds the new one to the
  rollup counters (`DailyRollup`, `HourlyRollup`, `MemberDay`). Re-processing the same batch adds zero: no
  double counting, and late changes (signals arriving, an edit, a deletion, a member marked staff) correct
  the counters instead of adding to them.
- Distinct counts (DAU/WAU/MAU, new members, cohorts) are exact: they are recomputed from the small
  `MemberDay` table for the days marked dirty (`DirtyDay`), by a periodic job.
- Days are the workspace's local days (its time zone); hours are UTC hours.
Dashboards read these tables only; the drill-downs read `MessageFact`/`MemberDay` to find the ids behind a
point, then the messages or members themselves.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from communa.core.models import WorkspaceScopedModel

ALL_SOURCES = 0  # source_id of "every source" rows in ActiveDaily
ALL_LANGUAGES = "*"  # language of "every language" rows in ActiveDaily


class RollupState(models.Model):
    """One row per workspace: the lock that serialises ledger updates of a workspace (select_for_update),
    and when its rollups were last backfilled."""

    workspace = models.OneToOneField("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    backfilled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)


class MessageFact(WorkspaceScopedModel):
    """What one message contributed to the rollups when it was last counted (the idempotency ledger).

    `counted` is a member's contribution (not staff, not a bot, not deleted, not a reaction/join/leave);
    the other flags only matter when it is set, except `staff` (a brand message, counted apart)."""

    message_id = models.BigIntegerField(primary_key=True)
    day = models.DateField()
    hour = models.DateTimeField()
    source_id = models.IntegerField()
    language = models.CharField(max_length=12, blank=True, default="")
    member_id = models.BigIntegerField(null=True, blank=True)
    counted = models.BooleanField(default=False)
    staff = models.BooleanField(default=False)
    reaction = models.BooleanField(default=False)
    thread_start = models.BooleanField(default=False)
    reply = models.BooleanField(default=False)
    peer_reply = models.BooleanField(default=False)  # a reply to another non-staff member's message
    question = models.BooleanField(default=False)
    sentiment = models.CharField(max_length=10, blank=True, default="")
    toxic = models.BooleanField(default=False)
    spam = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "day", "source_id"], name="an_fact_ws_day"),
            models.Index(fields=["workspace", "hour"], name="an_fact_ws_hour"),
            models.Index(fields=["member_id", "day"], name="an_fact_member_day"),
        ]


class DailyCounters(WorkspaceScopedModel):
    """The additive counters of a day's messages, shared by the workspace's rollup and each segment's."""

    messages = models.IntegerField(default=0)  # members' messages (staff, bots, reactions excluded)
    staff_messages = models.IntegerField(default=0)
    reactions = models.IntegerField(default=0)
    threads = models.IntegerField(default=0)  # threads started by members
    replies = models.IntegerField(default=0)  # members' replies
    peer_replies = models.IntegerField(default=0)  # members' replies to another member
    questions = models.IntegerField(default=0)
    positive = models.IntegerField(default=0)
    neutral = models.IntegerField(default=0)
    negative = models.IntegerField(default=0)
    toxic = models.IntegerField(default=0)
    spam = models.IntegerField(default=0)

    COUNTERS = (
        "messages",
        "staff_messages",
        "reactions",
        "threads",
        "replies",
        "peer_replies",
        "questions",
        "positive",
        "neutral",
        "negative",
        "toxic",
        "spam",
    )

    class Meta:
        abstract = True


class DistinctCounts(WorkspaceScopedModel):
    """A day's exact distinct member counts, shared by the workspace's rollup and each segment's."""

    dau = models.IntegerField(default=0)
    wau = models.IntegerField(default=0)  # active in the 7 days ending that day
    mau = models.IntegerField(default=0)  # active in the 30 days ending that day
    new_members = models.IntegerField(default=0)  # first active that day (in that source/language/segment)
    total_members = models.IntegerField(default=0)  # ever active up to that day

    class Meta:
        abstract = True


class DailyRollup(DailyCounters):
    """Additive counters per (local day, source, language). Sum over rows for any filter and range."""

    day = models.DateField()
    source_id = models.IntegerField()
    language = models.CharField(max_length=12, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "day", "source_id", "language"], name="an_daily_unique")
        ]


class HourlyRollup(WorkspaceScopedModel):
    """Counters per (UTC hour, source, language), kept for the last `ANALYTICS_HOURLY_DAYS` days: the
    seasonal baseline of anomaly detection and the hourly charts of short ranges."""

    hour = models.DateTimeField()
    source_id = models.IntegerField()
    language = models.CharField(max_length=12, blank=True, default="")
    messages = models.IntegerField(default=0)
    negative = models.IntegerField(default=0)
    toxic = models.IntegerField(default=0)

    COUNTERS = ("messages", "negative", "toxic")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "hour", "source_id", "language"], name="an_hourly_unique")
        ]


class MemberDay(WorkspaceScopedModel):
    """A member's counted messages on one local day in one source and language: the exact base of distinct
    counts (active members, new members, cohorts) and of top contributors. Rows at zero are deleted."""

    day = models.DateField()
    member_id = models.BigIntegerField()
    source_id = models.IntegerField()
    language = models.CharField(max_length=12, blank=True, default="")
    messages = models.IntegerField(default=0)
    replies = models.IntegerField(default=0)
    peer_replies = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "day", "member_id", "source_id", "language"], name="an_memberday_unique"
            )
        ]
        indexes = [models.Index(fields=["workspace", "member_id", "day"], name="an_memberday_member")]


class MemberActivity(WorkspaceScopedModel):
    """Per member: first and last active day and totals, kept from MemberDay (new members, lifecycle)."""

    member_id = models.BigIntegerField(primary_key=True)
    first_day = models.DateField()
    last_day = models.DateField()
    active_days = models.IntegerField(default=0)
    messages = models.IntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "first_day"], name="an_activity_first"),
            models.Index(fields=["workspace", "last_day"], name="an_activity_last"),
        ]


class ActiveDaily(DistinctCounts):
    """Exact distinct counts per local day: for every source and language together (source_id 0, language
    "*"), per source (language "*") and per language (source_id 0)."""

    day = models.DateField()
    source_id = models.IntegerField(default=ALL_SOURCES)
    language = models.CharField(max_length=12, default=ALL_LANGUAGES)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "day", "source_id", "language"], name="an_active_unique")
        ]


class CohortWeek(WorkspaceScopedModel):
    """Retention: members first active in week `cohort` (a Monday) who were active in week `week`."""

    cohort = models.DateField()
    week = models.DateField()
    members = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "cohort", "week"], name="an_cohort_unique")]


class TopicDay(WorkspaceScopedModel):
    """Top keywords of one local day in one language (and source), with how many messages contain each."""

    day = models.DateField()
    source_id = models.IntegerField()
    language = models.CharField(max_length=12, blank=True, default="")
    term = models.CharField(max_length=120)
    messages = models.IntegerField(default=0)
    score = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "day", "source_id", "language", "term"], name="an_topic_unique"
            )
        ]


class DirtyDay(WorkspaceScopedModel):
    """A local day whose distinct counts, cohorts or topics must be recomputed (by the periodic refresh)."""

    class Kind(models.TextChoices):
        ACTIVE = "active", "active"
        TOPICS = "topics", "topics"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    day = models.DateField()
    marked_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "kind", "day"], name="an_dirty_unique")]


# Segment rollups (segments.py): the figures of saved member segments, precomputed like the workspace's.


class SegmentRollup(WorkspaceScopedModel):
    """A saved members segment whose figures are precomputed: the definition its member snapshot was taken
    with, and the state of its build. The first `ANALYTICS_SEGMENTS_MAX` segments of a workspace (oldest
    first) are tracked; changing a segment's definition marks it pending and the worker rebuilds it."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be built")
        BUILDING = "building", _("Being built")
        READY = "ready", _("Up to date")
        FAILED = "failed", _("Build failed")

    segment = models.OneToOneField("members.Segment", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    definition = models.JSONField(default=dict)  # the segment's filter the snapshot was taken with
    members = models.IntegerField(default=0)  # members in the snapshot
    progress_done = models.IntegerField(default=0)  # build steps done (months of the ledger, then counts)
    progress_total = models.IntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)
    membership_at = models.DateTimeField(null=True, blank=True)  # when the snapshot was last compared
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["workspace", "status"], name="an_segroll_ws")]

    @property
    def progress(self) -> float | None:
        """Share of the build done (0..1), or None when not building."""
        if self.status != self.Status.BUILDING or self.progress_total <= 0:
            return None
        return min(1.0, self.progress_done / self.progress_total)


class SegmentMember(WorkspaceScopedModel):
    """The snapshot of a tracked segment's members (compared with the live filter every few minutes)."""

    rollup = models.ForeignKey(SegmentRollup, on_delete=models.CASCADE, related_name="+", db_index=False)
    member_id = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rollup", "member_id"], name="an_segmember_unique")]
        indexes = [models.Index(fields=["workspace", "member_id"], name="an_segmember_member")]


class SegmentDaily(DailyCounters):
    """DailyRollup's counters for the messages of a segment's members, per (local day, source, language)."""

    rollup = models.ForeignKey(SegmentRollup, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    source_id = models.IntegerField()
    language = models.CharField(max_length=12, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rollup", "day", "source_id", "language"], name="an_segdaily_unique")
        ]


class SegmentActive(DistinctCounts):
    """ActiveDaily for a segment's members (every source and language together)."""

    rollup = models.ForeignKey(SegmentRollup, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rollup", "day"], name="an_segactive_unique")]


# Facts from domain events (inbox, moderation, members): one row per fact, upserted, so replays are harmless.


class ConversationFact(WorkspaceScopedModel):
    conversation_id = models.BigIntegerField()
    source_id = models.IntegerField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    day = models.DateField(null=True, blank=True)  # local day it was opened
    first_response_at = models.DateTimeField(null=True, blank=True)
    first_response_seconds = models.IntegerField(null=True, blank=True)
    first_response_business_seconds = models.IntegerField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_business_seconds = models.IntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "conversation_id"], name="an_conv_unique")]
        indexes = [models.Index(fields=["workspace", "day"], name="an_conv_day")]


class AnswerFact(WorkspaceScopedModel):
    message_id = models.BigIntegerField()  # the question
    conversation_id = models.BigIntegerField(null=True, blank=True)
    source_id = models.IntegerField(null=True, blank=True)
    at = models.DateTimeField()
    day = models.DateField()
    answered_by = models.CharField(max_length=10)  # "staff" | "member"
    answerer_member_id = models.BigIntegerField(null=True, blank=True)
    seconds = models.IntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "message_id"], name="an_answer_unique")]
        indexes = [models.Index(fields=["workspace", "day"], name="an_answer_day")]


class ModerationFact(WorkspaceScopedModel):
    decision_id = models.BigIntegerField()
    action = models.CharField(max_length=40)
    source_id = models.IntegerField(null=True, blank=True)
    member_id = models.BigIntegerField(null=True, blank=True)
    rule = models.CharField(max_length=200, blank=True, default="")
    automatic = models.BooleanField(default=False)
    at = models.DateTimeField()
    day = models.DateField()
    seconds_to_action = models.IntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "decision_id", "action"], name="an_moderation_unique")
        ]
        indexes = [models.Index(fields=["workspace", "day"], name="an_moderation_day")]


class LifecycleFact(WorkspaceScopedModel):
    member_id = models.BigIntegerField()
    from_state = models.CharField(max_length=20, blank=True, default="")
    to_state = models.CharField(max_length=20)
    at = models.DateTimeField()
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "member_id", "at", "to_state"], name="an_lifecycle_unique")
        ]
        indexes = [models.Index(fields=["workspace", "day"], name="an_lifecycle_day")]


class Goal(WorkspaceScopedModel):
    """A target for one metric by a deadline ("first response under 2 h by March", "peer answers ≥ 40%")."""

    class Comparison(models.TextChoices):
        AT_MOST = "lte", _("at most")
        AT_LEAST = "gte", _("at least")

    class Status(models.TextChoices):
        ON_TRACK = "on_track", _("On track")
        AT_RISK = "at_risk", _("At risk")
        OFF_TRACK = "off_track", _("Off track")
        ACHIEVED = "achieved", _("Achieved")
        MISSED = "missed", _("Missed")
        NO_DATA = "no_data", _("No data yet")

    name = models.CharField(_("name"), max_length=200)
    metric = models.CharField(_("metric"), max_length=60)
    comparison = models.CharField(_("comparison"), max_length=3, choices=Comparison.choices)
    target = models.FloatField(_("target"))
    start = models.DateField(_("start"))
    deadline = models.DateField(_("deadline"))
    # Optional scope: {"source": id, "language": "it"}.
    filters = models.JSONField(default=dict, blank=True)
    baseline = models.FloatField(null=True, blank=True)  # the value when the goal was set
    current = models.FloatField(null=True, blank=True)
    forecast = models.FloatField(null=True, blank=True)  # projected value at the deadline
    progress = models.FloatField(null=True, blank=True)  # 0..1 of the way from baseline to target
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NO_DATA)
    alerted_status = models.CharField(max_length=10, blank=True, default="")  # the last status we alerted on
    checked_at = models.DateTimeField(null=True, blank=True)
    archived = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "archived", "deadline"], name="an_goal_ws")]

    def __str__(self) -> str:
        return self.name


class Anomaly(WorkspaceScopedModel):
    """An hour or a day whose volume, negativity or toxicity left its seasonal baseline, with why."""

    class Kind(models.TextChoices):
        SPIKE = "spike", _("Spike")
        DROP = "drop", _("Drop")

    class Granularity(models.TextChoices):
        HOUR = "hour", _("Hour")
        DAY = "day", _("Day")

    class Metric(models.TextChoices):
        VOLUME = "volume", _("Message volume")
        NEGATIVITY = "negativity", _("Negative messages")
        TOXICITY = "toxicity", _("Toxic messages")

    metric = models.CharField(max_length=20, choices=Metric.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # An hour (vs the same weekday and hour of previous weeks) or a local day (vs the same weekday).
    granularity = models.CharField(max_length=4, choices=Granularity.choices, default=Granularity.HOUR)
    start = models.DateTimeField()  # the window [start, end)
    end = models.DateTimeField()
    source_id = models.IntegerField(default=0)  # 0: all sources
    observed = models.FloatField()
    expected = models.FloatField()  # the baseline's median
    spread = models.FloatField()  # the baseline's scaled MAD
    score = models.FloatField()  # (observed - expected) / spread
    # {"sources": [{"source_id", "messages"}], "topics": [{"term", "messages"}], "message_ids": [...],
    #  "languages": [...], "members": [...]}
    explanation = models.JSONField(default=dict, blank=True)
    detected_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "metric", "granularity", "start", "source_id"], name="an_anomaly_unique_g"
            )
        ]
        indexes = [models.Index(fields=["workspace", "-start"], name="an_anomaly_ws_start")]


class Notice(WorkspaceScopedModel):
    """An in-app notice for the team: a goal drifted, an anomaly was detected."""

    class Kind(models.TextChoices):
        GOAL_DRIFTED = "goal.drifted", _("Goal drifted")
        ANOMALY = "anomaly.detected", _("Anomaly detected")

    kind = models.CharField(max_length=30, choices=Kind.choices)
    goal = models.ForeignKey(Goal, null=True, blank=True, on_delete=models.CASCADE, related_name="notices")
    anomaly = models.ForeignKey(Anomaly, null=True, blank=True, on_delete=models.CASCADE, related_name="notices")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at"], name="an_notice_ws")]


# Report schedules, reports and share links (K=8), in their own module; imported here so Django finds them.
from communa.analytics.reporting.models import Report, ReportSchedule, ShareLink  # noqa: E402, F401
