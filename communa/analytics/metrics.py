"""The metric registry: every number the dashboards, goals, anomalies and reports show, defined once.

Each metric has a key, a label and a one-line definition (translated, shown in the UI next to the number),
a unit, whether higher is better, the data it needs (it appears when that data exists), and how it is
computed from the rollups: its `source` (which rollup table) and the counters it adds up. docs/analytics-metrics.md
describes the same definitions in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class Unit(StrEnum):
    COUNT = "count"
    PERCENT = "percent"  # stored as a fraction 0..1; shown ×100
    SECONDS = "seconds"
    RATIO = "ratio"


class Needs(StrEnum):
    """What must exist for a metric to be shown (selectors.available_metrics checks it)."""

    MESSAGES = "messages"
    SIGNALS = "signals"  # enrichment: sentiment, toxicity, questions
    INBOX = "inbox"  # conversation.* events
    ANSWERS = "answers"  # question.answered events
    MODERATION = "moderation"  # moderation.action events


class Source(StrEnum):
    """Which rollup a metric is read from."""

    DAILY = "daily"  # sums of DailyRollup counters: numerator / denominator
    ACTIVE = "active"  # ActiveDaily distinct counts
    CONVERSATIONS = "conversations"  # ConversationFact
    ANSWERS = "answers"  # AnswerFact
    MODERATION = "moderation"  # ModerationFact


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    label: str | Promise
    definition: str | Promise
    unit: Unit
    source: Source
    needs: Needs
    area: str  # the dashboard page it belongs to
    higher_is_better: bool = True
    numerator: tuple[str, ...] = ()
    denominator: tuple[str, ...] = ()
    # For ACTIVE metrics over a range: "last" (value on the last day), "mean" (average per day), "sum".
    over_range: str = "sum"
    hourly: bool = False  # also available per hour (HourlyRollup)
    goal: bool = True  # can be the metric of a goal
    extra: dict[str, str] = field(default_factory=dict)


SENTIMENT_KNOWN = ("positive", "neutral", "negative")

METRICS: tuple[Metric, ...] = (
    # Members
    Metric(
        "members_total",
        _("Members"),
        _("Members who have posted at least once (staff and bots excluded), as of the end of the period."),
        Unit.COUNT,
        Source.ACTIVE,
        Needs.MESSAGES,
        "members",
        numerator=("total_members",),
        over_range="last",
    ),
    Metric(
        "members_new",
        _("New members"),
        _("Members whose first message falls in the period."),
        Unit.COUNT,
        Source.ACTIVE,
        Needs.MESSAGES,
        "members",
        numerator=("new_members",),
        over_range="sum",
    ),
    Metric(
        "dau",
        _("Daily active members"),
        _("Members who posted on a day, averaged over the days of the period."),
        Unit.COUNT,
        Source.ACTIVE,
        Needs.MESSAGES,
        "members",
        numerator=("dau",),
        over_range="mean",
    ),
    Metric(
        "wau",
        _("Weekly active members"),
        _("Members who posted in the 7 days ending on the last day of the period."),
        Unit.COUNT,
        Source.ACTIVE,
        Needs.MESSAGES,
        "members",
        numerator=("wau",),
        over_range="last",
    ),
    Metric(
        "mau",
        _("Monthly active members"),
        _("Members who posted in the 30 days ending on the last day of the period."),
        Unit.COUNT,
        Source.ACTIVE,
        Needs.MESSAGES,
        "members",
        numerator=("mau",),
        over_range="last",
    ),
    Metric(
        "engagement_rate",
        _("Engagement rate"),
        _("Share of all members who posted in the last 30 days (monthly active ÷ members), at the end of the period."),
        Unit.PERCENT,
        Source.ACTIVE,
        Needs.MESSAGES,
        "engagement",
        numerator=("mau",),
        denominator=("total_members",),
        over_range="last",
    ),
    Metric(
        "stickiness",
        _("Stickiness"),
        _("Average daily active members ÷ monthly active members: how often active members come back."),
        Unit.PERCENT,
        Source.ACTIVE,
        Needs.MESSAGES,
        "engagement",
        numerator=("dau",),
        denominator=("mau",),
        over_range="mean",
    ),
    # Messages and threads
    Metric(
        "messages",
        _("Messages"),
        _("Messages posted by members (staff, bots, spam, reactions, joins and leaves excluded)."),
        Unit.COUNT,
        Source.DAILY,
        Needs.MESSAGES,
        "engagement",
        numerator=("messages",),
        hourly=True,
    ),
    Metric(
        "threads",
        _("Threads started"),
        _("Conversations (topics, threads) started by members."),
        Unit.COUNT,
        Source.DAILY,
        Needs.MESSAGES,
        "engagement",
        numerator=("threads",),
    ),
    Metric(
        "staff_messages",
        _("Team messages"),
        _("Messages posted by staff, bots and through Communa."),
        Unit.COUNT,
        Source.DAILY,
        Needs.MESSAGES,
        "support",
        numerator=("staff_messages",),
        goal=False,
    ),
    Metric(
        "replies_per_thread",
        _("Replies per thread"),
        _("Members' replies ÷ threads started by members in the period."),
        Unit.RATIO,
        Source.DAILY,
        Needs.MESSAGES,
        "engagement",
        numerator=("replies",),
        denominator=("threads",),
    ),
    Metric(
        "peer_reply_share",
        _("Member-to-member replies"),
        _("Share of members' replies that answer another member rather than the team."),
        Unit.PERCENT,
        Source.DAILY,
        Needs.MESSAGES,
        "engagement",
        numerator=("peer_replies",),
        denominator=("replies",),
    ),
    Metric(
        "questions",
        _("Questions"),
        _("Members' messages recognised as questions."),
        Unit.COUNT,
        Source.DAILY,
        Needs.SIGNALS,
        "support",
        numerator=("questions",),
    ),
    # Support
    Metric(
        "response_rate",
        _("Response rate"),
        _("Share of inbox conversations opened in the period that received a first response from the team."),
        Unit.PERCENT,
        Source.CONVERSATIONS,
        Needs.INBOX,
        "support",
        extra={"kind": "response_rate"},
    ),
    Metric(
        "first_response_median",
        _("First response time (median)"),
        _("Median time to the team's first response, in business hours, for conversations opened in the period."),
        Unit.SECONDS,
        Source.CONVERSATIONS,
        Needs.INBOX,
        "support",
        higher_is_better=False,
        extra={"kind": "percentile", "q": "0.5"},
    ),
    Metric(
        "first_response_p90",
        _("First response time (90th percentile)"),
        _("9 in 10 conversations opened in the period got a first response within this many business hours."),
        Unit.SECONDS,
        Source.CONVERSATIONS,
        Needs.INBOX,
        "support",
        higher_is_better=False,
        extra={"kind": "percentile", "q": "0.9"},
    ),
    Metric(
        "questions_answered",
        _("Questions answered"),
        _("Questions that received an answer in the period, from members or the team."),
        Unit.COUNT,
        Source.ANSWERS,
        Needs.ANSWERS,
        "support",
        extra={"kind": "count"},
    ),
    Metric(
        "peer_answer_ratio",
        _("Peer-answer ratio"),
        _("Share of questions answered in the period whose answer came from a member rather than the team."),
        Unit.PERCENT,
        Source.ANSWERS,
        Needs.ANSWERS,
        "support",
        extra={"kind": "peer_ratio"},
    ),
    # Sentiment and safety
    Metric(
        "sentiment_positive",
        _("Positive share"),
        _("Share of members' messages with a known sentiment that are positive."),
        Unit.PERCENT,
        Source.DAILY,
        Needs.SIGNALS,
        "sentiment",
        numerator=("positive",),
        denominator=SENTIMENT_KNOWN,
    ),
    Metric(
        "sentiment_negative",
        _("Negative share"),
        _("Share of members' messages with a known sentiment that are negative."),
        Unit.PERCENT,
        Source.DAILY,
        Needs.SIGNALS,
        "sentiment",
        higher_is_better=False,
        numerator=("negative",),
        denominator=SENTIMENT_KNOWN,
    ),
    Metric(
        "net_sentiment",
        _("Net sentiment"),
        _("Positive minus negative messages, as a share of members' messages with a known sentiment (−100%…+100%)."),
        Unit.PERCENT,
        Source.DAILY,
        Needs.SIGNALS,
        "sentiment",
        numerator=("positive", "-negative"),
        denominator=SENTIMENT_KNOWN,
    ),
    Metric(
        "negative_messages",
        _("Negative messages"),
        _("Members' messages classified as negative."),
        Unit.COUNT,
        Source.DAILY,
        Needs.SIGNALS,
        "sentiment",
        higher_is_better=False,
        numerator=("negative",),
        hourly=True,
    ),
    Metric(
        "toxic_messages",
        _("Toxic messages"),
        _("Members' messages classified as toxic (or marked toxic by a moderator)."),
        Unit.COUNT,
        Source.DAILY,
        Needs.SIGNALS,
        "moderation",
        higher_is_better=False,
        numerator=("toxic",),
        hourly=True,
    ),
    Metric(
        "toxicity_rate",
        _("Toxicity rate"),
        _("Toxic messages ÷ members' messages."),
        Unit.PERCENT,
        Source.DAILY,
        Needs.SIGNALS,
        "moderation",
        higher_is_better=False,
        numerator=("toxic",),
        denominator=("messages",),
    ),
    Metric(
        "spam_messages",
        _("Spam"),
        _("Messages classified as spam (left out of every other count)."),
        Unit.COUNT,
        Source.DAILY,
        Needs.SIGNALS,
        "moderation",
        higher_is_better=False,
        numerator=("spam",),
        goal=False,
    ),
    Metric(
        "moderation_actions",
        _("Moderation actions"),
        _("Actions taken by moderators or automatic rules (removals, timeouts, bans…)."),
        Unit.COUNT,
        Source.MODERATION,
        Needs.MODERATION,
        "moderation",
        higher_is_better=False,
        extra={"kind": "count"},
    ),
    Metric(
        "moderation_automatic_share",
        _("Automatic moderation"),
        _("Share of moderation actions taken by automatic rules."),
        Unit.PERCENT,
        Source.MODERATION,
        Needs.MODERATION,
        "moderation",
        extra={"kind": "automatic_share"},
        goal=False,
    ),
)

BY_KEY: dict[str, Metric] = {m.key: m for m in METRICS}

# The headline numbers of the overview page (and the benchmark), in order.
OVERVIEW = (
    "messages",
    "members_new",
    "mau",
    "engagement_rate",
    "peer_reply_share",
    "peer_answer_ratio",
    "first_response_median",
    "response_rate",
    "sentiment_negative",
    "toxic_messages",
)


def get(key: str) -> Metric:
    """The metric, or KeyError."""
    return BY_KEY[key]


def by_area(area: str) -> list[Metric]:
    return [m for m in METRICS if m.area == area]
