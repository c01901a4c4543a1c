"""Reads for the dashboards, goals, anomalies and reports. Every function takes the workspace (fail closed)
and reads rollup tables only; the drill-downs return the ids behind a point.

    series(workspace, "messages", DateRange(start, end), granularity="day", filters=Filters(source_id=3))
        → [Point(start=date, end=date, value=float | None), ...]
    value(workspace, metric, range, filters) → float | None       (the number for the whole range)
    compare(workspace, metric, range, filters) → Comparison        (vs the previous period of equal length)
    drill_messages(workspace, metric, range, filters) → QuerySet[Message]   (the messages behind a point)
    drill_members(workspace, metric, range, filters) → QuerySet[Member]
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet, Sum

from communa.accounts.models import Workspace
from communa.analytics import metrics as registry
from communa.analytics import segments
from communa.analytics.metrics import Metric, Needs, Source, Unit
from communa.analytics.models import (
    ALL_LANGUAGES,
    ALL_SOURCES,
    ActiveDaily,
    AnswerFact,
    CohortWeek,
    ConversationFact,
    DailyRollup,
    HourlyRollup,
    LifecycleFact,
    MemberActivity,
    MemberDay,
    MessageFact,
    ModerationFact,
    SegmentActive,
    SegmentDaily,
    SegmentRollup,
    TopicDay,
)
from communa.analytics.rollups import day_bounds, today, week_start, workspace_tz
from communa.connectors.models import Source as PlatformSource
from communa.members.models import Member, Segment
from communa.members.selectors import members_in_segment
from communa.stream.models import Message

GRANULARITIES = ("hour", "day", "week", "month")


@dataclass(frozen=True, slots=True)
class DateRange:
    """Local days start..end, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> DateRange:
        return DateRange(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    @classmethod
    def last(cls, days: int, *, end: date) -> DateRange:
        return cls(end - timedelta(days=days - 1), end)


@dataclass(frozen=True, slots=True)
class Filters:
    source_id: int | None = None
    language: str | None = None
    segment_id: int | None = None  # a saved members segment (precomputed when tracked: segments.py)


NO_FILTERS = Filters()


@dataclass(frozen=True, slots=True)
class Point:
    start: date | datetime  # a local date, or a UTC hour for granularity "hour"
    end: date | datetime  # last day included (or the hour itself)
    value: float | None


@dataclass(frozen=True, slots=True)
class Comparison:
    metric: Metric
    current: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        """Relative change (0.25 = +25%); None when there is nothing to compare with."""
        if self.current is None or self.previous in (None, 0):
            return None
        assert self.previous is not None
        return (self.current - self.previous) / abs(self.previous)

    @property
    def delta(self) -> float | None:
        if self.current is None or self.previous is None:
            return None
        return self.current - self.previous

    @property
    def improved(self) -> bool | None:
        d = self.delta
        if d is None or d == 0:
            return None
        return (d > 0) == self.metric.higher_is_better


def default_range(workspace: Workspace, days: int = 30) -> DateRange:
    return DateRange.last(days, end=today(workspace))


def segment_member_ids(workspace: Workspace, segment_id: int) -> QuerySet[Any]:
    """The members of one of the workspace's segments, as a `member_id` subquery: the snapshot of a tracked
    segment (segments.py), else the live filter. A segment of another workspace, or none, matches nobody."""
    rollup = segments.rollup_of(workspace, segment_id)
    if rollup is not None and rollup.status in segments.LIVE:
        return segments.snapshot_ids(rollup)
    segment = Segment.objects.filter(workspace=workspace, pk=segment_id).first()
    if segment is None:
        return Member.objects.none().values("pk")
    return members_in_segment(workspace, segment).order_by().values("pk")


def _ready_rollup(workspace: Workspace, filters: Filters) -> SegmentRollup | None:
    """The segment's precomputed rollup, when the filter has a segment whose figures are ready."""
    if filters.segment_id is None:
        return None
    rollup = segments.rollup_of(workspace, filters.segment_id)
    return rollup if rollup is not None and rollup.status == SegmentRollup.Status.READY else None


@dataclass(frozen=True, slots=True)
class SegmentStatus:
    """What the dashboards say about a selected segment: "ready", "building" (with `percent` done), "pending",
    "failed", or "untracked" (beyond the ANALYTICS_SEGMENTS_MAX precomputed segments)."""

    state: str
    percent: int | None = None
    limit: int = 0


def segment_status(workspace: Workspace, segment_id: int | None) -> SegmentStatus | None:
    if segment_id is None or not Segment.objects.filter(workspace=workspace, pk=segment_id).exists():
        return None
    rollup = segments.rollup_of(workspace, segment_id)
    if rollup is None:  # not seen by the worker yet (pending), or beyond the limit
        if any(s.pk == segment_id for s in segments.tracked_segments(workspace)):
            return SegmentStatus(state="pending")
        return SegmentStatus(state="untracked", limit=segments.segments_max())
    share = rollup.progress
    return SegmentStatus(state=str(rollup.status), percent=None if share is None else int(share * 100))


# ---- buckets ------------------------------------------------------------------------------------------


def buckets(rng: DateRange, granularity: str) -> list[tuple[date, date]]:
    """Consecutive (first day, last day) buckets covering the range; weeks start on Monday, months on the 1st
    (the first and last bucket are clipped to the range)."""
    out: list[tuple[date, date]] = []
    day = rng.start
    while day <= rng.end:
        if granularity == "week":
            last = week_start(day) + timedelta(days=6)
        elif granularity == "month":
            nxt = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
            last = nxt - timedelta(days=1)
        else:
            last = day
        last = min(last, rng.end)
        out.append((day, last))
        day = last + timedelta(days=1)
    return out


# ---- the per-source computations ----------------------------------------------------------------------


def _daily_rows(
    workspace: Workspace, metric: Metric | None, rng: DateRange, filters: Filters
) -> dict[date, dict[str, int]]:
    """Daily sums of the metric's counters (or, with metric None, of every counter)."""
    if metric is None:
        fields = set(DailyRollup.COUNTERS)
    else:
        fields = {name.lstrip("-") for name in (*metric.numerator, *metric.denominator)}
    rollup = _ready_rollup(workspace, filters)
    qs: QuerySet[Any]
    if rollup is not None:
        qs = SegmentDaily.objects.filter(workspace=workspace, rollup=rollup, day__gte=rng.start, day__lte=rng.end)
    elif filters.segment_id is not None:  # not precomputed (yet): the ledger, joined with the members
        return _fact_rows(workspace, fields, rng, filters)
    else:
        qs = DailyRollup.objects.filter(workspace=workspace, day__gte=rng.start, day__lte=rng.end)
    if filters.source_id is not None:
        qs = qs.filter(source_id=filters.source_id)
    if filters.language is not None:
        qs = qs.filter(language=filters.language)
    rows = qs.values("day").annotate(**{f"s_{name}": Sum(name) for name in fields})
    return {row["day"]: {name: int(row[f"s_{name}"] or 0) for name in fields} for row in rows}


_FACT_FILTERS: dict[str, Q] = {
    "messages": Q(counted=True),
    "staff_messages": Q(staff=True, member_id__isnull=False, reaction=False),
    "reactions": Q(reaction=True, staff=False),
    "threads": Q(counted=True, thread_start=True),
    "replies": Q(counted=True, reply=True),
    "peer_replies": Q(counted=True, peer_reply=True),
    "questions": Q(counted=True, question=True),
    "positive": Q(counted=True, sentiment="positive"),
    "neutral": Q(counted=True, sentiment="neutral"),
    "negative": Q(counted=True, sentiment="negative"),
    "toxic": Q(counted=True, toxic=True),
    "spam": Q(spam=True),
}


def _fact_rows(
    workspace: Workspace, fields: Iterable[str], rng: DateRange, filters: Filters
) -> dict[date, dict[str, int]]:
    """DailyRollup's counters computed from the ledger, for filters the rollups do not carry (segments)."""
    qs = _facts(workspace, rng, filters)
    rows = qs.values("day").annotate(**{f"s_{name}": Count("pk", filter=_FACT_FILTERS[name]) for name in fields})
    return {row["day"]: {name: int(row[f"s_{name}"]) for name in fields} for row in rows}


def _facts(workspace: Workspace, rng: DateRange, filters: Filters) -> QuerySet[MessageFact]:
    qs = MessageFact.objects.filter(workspace=workspace, day__gte=rng.start, day__lte=rng.end)
    if filters.source_id is not None:
        qs = qs.filter(source_id=filters.source_id)
    if filters.language is not None:
        qs = qs.filter(language=filters.language)
    if filters.segment_id is not None:
        qs = qs.filter(member_id__in=segment_member_ids(workspace, filters.segment_id))
    return qs


def _ratio(metric: Metric, sums: dict[str, int]) -> float | None:
    num = 0
    for name in metric.numerator:
        num += -sums.get(name[1:], 0) if name.startswith("-") else sums.get(name, 0)
    if not metric.denominator:
        return float(num)
    den = sum(sums.get(name, 0) for name in metric.denominator)
    return None if den == 0 else num / den


def _daily_value(rows: dict[date, dict[str, int]], metric: Metric, first: date, last: date) -> float | None:
    sums: dict[str, int] = defaultdict(int)
    for day, values in rows.items():
        if first <= day <= last:
            for name, v in values.items():
                sums[name] += v
    return _ratio(metric, sums)


def _active_rows(workspace: Workspace, rng: DateRange, filters: Filters) -> dict[date, dict[str, int]]:
    """ActiveDaily rows for the filter; for source + language together or a segment, computed from
    MemberDay (exact, bounded by the range)."""
    names = ("dau", "wau", "mau", "new_members", "total_members")
    rollup = _ready_rollup(workspace, filters)
    if rollup is not None and filters.source_id is None and filters.language is None:
        rows = SegmentActive.objects.filter(workspace=workspace, rollup=rollup, day__gte=rng.start, day__lte=rng.end)
        return {row["day"]: {n: row[n] for n in names} for row in rows.values("day", *names)}
    if filters.segment_id is None and (filters.source_id is None or filters.language is None):
        qs = ActiveDaily.objects.filter(
            workspace=workspace,
            day__gte=rng.start,
            day__lte=rng.end,
            source_id=ALL_SOURCES if filters.source_id is None else filters.source_id,
            language=ALL_LANGUAGES if filters.language is None else filters.language,
        )
        return {row["day"]: {n: row[n] for n in names} for row in qs.values("day", *names)}
    return _active_from_member_days(workspace, rng, filters)


def _member_days(workspace: Workspace, filters: Filters) -> QuerySet[MemberDay]:
    qs = MemberDay.objects.filter(workspace=workspace)
    if filters.source_id is not None:
        qs = qs.filter(source_id=filters.source_id)
    if filters.language is not None:
        qs = qs.filter(language=filters.language)
    if filters.segment_id is not None:
        qs = qs.filter(member_id__in=segment_member_ids(workspace, filters.segment_id))
    return qs


def _active_from_member_days(workspace: Workspace, rng: DateRange, filters: Filters) -> dict[date, dict[str, int]]:
    qs = _member_days(workspace, filters)
    pairs = list(qs.filter(day__lte=rng.end).values_list("day", "member_id").distinct())
    first_seen: dict[int, date] = {}
    by_day: dict[date, set[int]] = defaultdict(set)
    for day, member_id in pairs:
        by_day[day].add(member_id)
        if member_id not in first_seen or day < first_seen[member_id]:
            first_seen[member_id] = day
    new_by_day: dict[date, int] = defaultdict(int)
    for first in first_seen.values():
        new_by_day[first] += 1
    out: dict[date, dict[str, int]] = {}
    day = rng.start
    total = sum(n for d, n in new_by_day.items() if d < rng.start)
    while day <= rng.end:
        total += new_by_day.get(day, 0)

        def window(span: int, end: date = day) -> int:
            members: set[int] = set()
            for offset in range(span):
                members |= by_day.get(end - timedelta(days=offset), set())
            return len(members)

        out[day] = {
            "dau": len(by_day.get(day, ())),
            "wau": window(7),
            "mau": window(30),
            "new_members": new_by_day.get(day, 0),
            "total_members": total,
        }
        day += timedelta(days=1)
    return out


def _active_value(rows: dict[date, dict[str, int]], metric: Metric, first: date, last: date) -> float | None:
    days = [d for d in rows if first <= d <= last]
    if not days:
        return None
    if metric.over_range == "last":
        values = rows[max(days)]
        return _ratio(metric, values)
    if metric.over_range == "mean":
        if metric.denominator:  # stickiness: mean DAU ÷ MAU on the last day
            mean = sum(rows[d][metric.numerator[0]] for d in days) / len(days)
            den = sum(rows[max(days)].get(n, 0) for n in metric.denominator)
            return None if den == 0 else mean / den
        return sum(rows[d][metric.numerator[0]] for d in days) / len(days)
    return float(sum(rows[d][metric.numerator[0]] for d in days))


def _conversations(workspace: Workspace, rng: DateRange, filters: Filters) -> QuerySet[ConversationFact]:
    qs = ConversationFact.objects.filter(workspace=workspace, day__gte=rng.start, day__lte=rng.end)
    if filters.source_id is not None:
        qs = qs.filter(source_id=filters.source_id)
    return qs


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default, 'linear')."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _conversation_value(
    rows: Sequence[tuple[date | None, int | None]], metric: Metric, first: date, last: date
) -> float | None:
    """rows: (day opened, business seconds to first response or None)."""
    inside = [(d, s) for d, s in rows if d is not None and first <= d <= last]
    kind = metric.extra["kind"]
    if kind == "response_rate":
        return None if not inside else sum(1 for _, s in inside if s is not None) / len(inside)
    return percentile([float(s) for _, s in inside if s is not None], float(metric.extra["q"]))


def _answers(workspace: Workspace, rng: DateRange, filters: Filters) -> QuerySet[AnswerFact]:
    qs = AnswerFact.objects.filter(workspace=workspace, day__gte=rng.start, day__lte=rng.end)
    if filters.source_id is not None:
        qs = qs.filter(source_id=filters.source_id)
    return qs


def _answer_value(rows: list[tuple[date, str]], metric: Metric, first: date, last: date) -> float | None:
    inside = [by for d, by in rows if first <= d <= last]
    if metric.extra["kind"] == "count":
        return float(len(inside))
    return None if not inside else sum(1 for by in inside if by == "member") / len(inside)


def _moderation(workspace: Workspace, rng: DateRange, filters: Filters) -> QuerySet[ModerationFact]:
    qs = ModerationFact.objects.filter(workspace=workspace, day__gte=rng.start, day__lte=rng.end)
    if filters.source_id is not None:
        qs = qs.filter(source_id=filters.source_id)
    return qs


def _moderation_value(rows: list[tuple[date, bool]], metric: Metric, first: date, last: date) -> float | None:
    inside = [auto for d, auto in rows if first <= d <= last]
    if metric.extra["kind"] == "count":
        return float(len(inside))
    return None if not inside else sum(1 for a in inside if a) / len(inside)


# ---- public reads -------------------------------------------------------------------------------------


def _computer(
    workspace: Workspace, metric: Metric, rng: DateRange, filters: Filters, shared: dict[str, Any] | None = None
) -> Any:
    """A function (first, last) → value for days inside rng, with the rows read once. With `shared` (several
    metrics over the same range and filters), the daily counters and distinct counts are read once for all."""
    if metric.source is Source.DAILY:
        if shared is not None:
            if "daily" not in shared:
                shared["daily"] = _daily_rows(workspace, None, rng, filters)
            daily = shared["daily"]
        else:
            daily = _daily_rows(workspace, metric, rng, filters)
        return lambda a, b: _daily_value(daily, metric, a, b)
    if metric.source is Source.ACTIVE:
        if shared is not None:
            if "active" not in shared:
                shared["active"] = _active_rows(workspace, rng, filters)
            active = shared["active"]
        else:
            active = _active_rows(workspace, rng, filters)
        return lambda a, b: _active_value(active, metric, a, b)
    if metric.source is Source.CONVERSATIONS:
        conv = list(_conversations(workspace, rng, filters).values_list("day", "first_response_business_seconds"))
        return lambda a, b: _conversation_value(conv, metric, a, b)
    if metric.source is Source.ANSWERS:
        answers = list(_answers(workspace, rng, filters).values_list("day", "answered_by"))
        return lambda a, b: _answer_value(answers, metric, a, b)
    moderation = list(_moderation(workspace, rng, filters).values_list("day", "automatic"))
    return lambda a, b: _moderation_value(moderation, metric, a, b)


def series(
    workspace: Workspace,
    metric: str | Metric,
    rng: DateRange,
    granularity: str = "day",
    filters: Filters = NO_FILTERS,
) -> list[Point]:
    """The metric per bucket over the range. Buckets without data have value None for ratios, 0 for counts
    of DAILY metrics. Granularity "hour" is for metrics with `hourly` (the last ANALYTICS_HOURLY_DAYS days)."""
    m = registry.get(metric) if isinstance(metric, str) else metric
    if granularity not in GRANULARITIES:
        raise ValueError(f"unknown granularity {granularity!r}")
    if granularity == "hour":
        return _hourly_series(workspace, m, rng, filters)
    compute = _computer(workspace, m, rng, filters)
    points = []
    for first, last in buckets(rng, granularity):
        value = compute(first, last)
        if value is None and m.source is Source.DAILY and not m.denominator:
            value = 0.0
        points.append(Point(first, last, value))
    return points


_HOURLY_COUNTER = {"messages": "messages", "negative_messages": "negative", "toxic_messages": "toxic"}


def _hourly_series(workspace: Workspace, metric: Metric, rng: DateRange, filters: Filters) -> list[Point]:
    if metric.key not in _HOURLY_COUNTER:
        raise ValueError(f"{metric.key} has no hourly series")
    counter = _HOURLY_COUNTER[metric.key]
    lo, hi = day_bounds(rng.start, rng.end, workspace_tz(workspace))
    qs = HourlyRollup.objects.filter(workspace=workspace, hour__gte=lo, hour__lt=hi)
    if filters.source_id is not None:
        qs = qs.filter(source_id=filters.source_id)
    if filters.language is not None:
        qs = qs.filter(language=filters.language)
    values = {row["hour"]: row["n"] for row in qs.values("hour").annotate(n=Sum(counter))}
    points = []
    hour = lo
    while hour < hi:
        v = values.get(hour, 0)
        points.append(Point(hour, hour, float(v)))
        hour += timedelta(hours=1)
    return points


def value(workspace: Workspace, metric: str | Metric, rng: DateRange, filters: Filters = NO_FILTERS) -> float | None:
    m = registry.get(metric) if isinstance(metric, str) else metric
    v = _computer(workspace, m, rng, filters)(rng.start, rng.end)
    if v is None and m.source is Source.DAILY and not m.denominator:
        return 0.0
    return v  # type: ignore[no-any-return]


def compare(
    workspace: Workspace,
    metric: str | Metric,
    rng: DateRange,
    filters: Filters = NO_FILTERS,
    *,
    shared: dict[str, Any] | None = None,
) -> Comparison:
    """The value over the range and over the previous period of equal length (`shared`: see _computer)."""
    m = registry.get(metric) if isinstance(metric, str) else metric
    both = DateRange(rng.previous().start, rng.end)
    compute = _computer(workspace, m, both, filters, shared)
    prev = rng.previous()

    def finish(v: float | None) -> float | None:
        if v is None and m.source is Source.DAILY and not m.denominator:
            return 0.0
        return v

    return Comparison(m, finish(compute(rng.start, rng.end)), finish(compute(prev.start, prev.end)))


def overview(workspace: Workspace, rng: DateRange, filters: Filters = NO_FILTERS) -> list[Comparison]:
    """The headline numbers (metrics.OVERVIEW) that have data, with the previous period."""
    available = {m.key for m in available_metrics(workspace)}
    shared: dict[str, Any] = {}  # one read of the daily counters and distinct counts for all of them
    return [compare(workspace, key, rng, filters, shared=shared) for key in registry.OVERVIEW if key in available]


def available_metrics(workspace: Workspace) -> list[Metric]:
    """Each metric appears when its data exists."""
    has = {
        Needs.MESSAGES: DailyRollup.objects.filter(workspace=workspace).exists(),
        Needs.SIGNALS: DailyRollup.objects.filter(workspace=workspace)
        .filter(Q(positive__gt=0) | Q(neutral__gt=0) | Q(negative__gt=0) | Q(questions__gt=0) | Q(toxic__gt=0))
        .exists(),
        Needs.INBOX: ConversationFact.objects.filter(workspace=workspace).exists(),
        Needs.ANSWERS: AnswerFact.objects.filter(workspace=workspace).exists(),
        Needs.MODERATION: ModerationFact.objects.filter(workspace=workspace).exists(),
    }
    return [m for m in registry.METRICS if has[m.needs]]


# ---- drill-down: the messages and members behind a point -----------------------------------------------

_DRILL_FACTS: dict[str, Q] = {
    "messages": Q(counted=True),
    "threads": Q(counted=True, thread_start=True),
    "staff_messages": Q(staff=True, reaction=False),
    "replies_per_thread": Q(counted=True, reply=True),
    "peer_reply_share": Q(counted=True, peer_reply=True),
    "questions": Q(counted=True, question=True),
    "sentiment_positive": Q(counted=True, sentiment="positive"),
    "sentiment_negative": Q(counted=True, sentiment="negative"),
    "net_sentiment": Q(counted=True, sentiment__in=["positive", "negative"]),
    "negative_messages": Q(counted=True, sentiment="negative"),
    "toxic_messages": Q(counted=True, toxic=True),
    "toxicity_rate": Q(counted=True, toxic=True),
    "spam_messages": Q(spam=True),
}


def drill_message_ids(
    workspace: Workspace, metric: str, rng: DateRange, filters: Filters = NO_FILTERS, *, hour: datetime | None = None
) -> QuerySet[MessageFact, int]:
    """The ids (a values_list queryset) of the messages counted in a point of a message metric."""
    m = registry.get(metric)
    condition = _DRILL_FACTS.get(m.key, Q(counted=True))
    qs = _facts(workspace, rng, filters).filter(condition)
    if hour is not None:
        qs = qs.filter(hour=hour.astimezone(UTC))
    return qs.values_list("message_id", flat=True)


def drill_messages(
    workspace: Workspace, metric: str, rng: DateRange, filters: Filters = NO_FILTERS, *, hour: datetime | None = None
) -> QuerySet[Message]:
    """The messages behind a point, newest first. Support metrics drill to the questions answered."""
    m = registry.get(metric)
    ids: QuerySet[AnswerFact, int] | QuerySet[MessageFact, int]
    if m.source is Source.ANSWERS:
        ids = _answers(workspace, rng, filters).values_list("message_id", flat=True)
    else:
        ids = drill_message_ids(workspace, metric, rng, filters, hour=hour)
    return Message.objects.filter(workspace=workspace, pk__in=ids).order_by("-created_at", "-id")


def drill_members(workspace: Workspace, metric: str, rng: DateRange, filters: Filters = NO_FILTERS) -> QuerySet[Member]:
    """The members behind a point of a member metric: active in the range (dau/wau/mau/engagement), or first
    active in it (members_new), or ever active up to its end (members_total)."""
    qs = _member_days(workspace, filters)
    if metric == "members_new":
        first = qs.values("member_id").annotate(first=_min_day()).filter(first__gte=rng.start, first__lte=rng.end)
        ids: Any = first.values("member_id")
    elif metric == "members_total":
        ids = qs.filter(day__lte=rng.end).values("member_id")
    else:
        start = rng.start
        if metric == "wau":
            start = rng.end - timedelta(days=6)
        elif metric in ("mau", "engagement_rate"):
            start = rng.end - timedelta(days=29)
        ids = qs.filter(day__gte=start, day__lte=rng.end).values("member_id")
    return Member.objects.filter(workspace=workspace, pk__in=ids).order_by("-last_seen_at", "-id")


def _min_day() -> Any:
    return Min("day")


# ---- lists: topics, contributors, mixes, cohorts, lifecycle --------------------------------------------


@dataclass(frozen=True, slots=True)
class Ranked:
    key: Any
    label: str
    value: float
    share: float | None = None


def top_topics(workspace: Workspace, rng: DateRange, filters: Filters = NO_FILTERS, *, limit: int = 15) -> list[Ranked]:
    """Keywords by how many messages contained them in the range (per language if filtered)."""
    qs = TopicDay.objects.filter(workspace=workspace, day__gte=rng.start, day__lte=rng.end)
    if filters.source_id is not None:
        qs = qs.filter(source_id=filters.source_id)
    if filters.language is not None:
        qs = qs.filter(language=filters.language)
    rows = qs.values("term").annotate(n=Sum("messages")).order_by("-n", "term")[:limit]
    return [Ranked(row["term"], row["term"], float(row["n"])) for row in rows]


def top_contributors(
    workspace: Workspace, rng: DateRange, filters: Filters = NO_FILTERS, *, limit: int = 10, by: str = "messages"
) -> list[Ranked]:
    """Members by messages (or peer_replies: who helps other members most) in the range."""
    qs = _member_days(workspace, filters).filter(day__gte=rng.start, day__lte=rng.end)
    rows = list(qs.values("member_id").annotate(n=Sum(by)).filter(n__gt=0).order_by("-n", "member_id")[:limit])
    names = dict(
        Member.objects.filter(workspace=workspace, pk__in=[r["member_id"] for r in rows]).values_list(
            "pk", "display_name"
        )
    )
    return [Ranked(r["member_id"], names.get(r["member_id"], "") or f"#{r['member_id']}", float(r["n"])) for r in rows]


def mix(workspace: Workspace, rng: DateRange, dimension: str, filters: Filters = NO_FILTERS) -> list[Ranked]:
    """Members' messages by platform ("platform": source kind), source ("source") or language ("language")."""
    qs = DailyRollup.objects.filter(workspace=workspace, day__gte=rng.start, day__lte=rng.end)
    if filters.source_id is not None:
        qs = qs.filter(source_id=filters.source_id)
    if filters.language is not None:
        qs = qs.filter(language=filters.language)
    if dimension == "language":
        rows = [(r["language"], r["n"]) for r in qs.values("language").annotate(n=Sum("messages"))]
        labelled = [(key, key or "und", n) for key, n in rows]
    else:
        by_source = dict(qs.values("source_id").annotate(n=Sum("messages")).values_list("source_id", "n"))
        sources = PlatformSource.objects.filter(workspace=workspace, pk__in=by_source)
        grouped: dict[str, tuple[str, int]] = {}
        for s in sources:
            key = s.kind if dimension == "platform" else str(s.pk)
            label = s.kind if dimension == "platform" else s.name
            prev = grouped.get(key, (label, 0))
            grouped[key] = (label, prev[1] + int(by_source.get(s.pk) or 0))
        labelled = [(k, lab, n) for k, (lab, n) in grouped.items()]
    total = sum(int(n or 0) for _, _, n in labelled)
    ranked = [Ranked(k, lab, float(n or 0), (n or 0) / total if total else None) for k, lab, n in labelled if n]
    return sorted(ranked, key=lambda r: (-r.value, str(r.key)))


@dataclass(frozen=True, slots=True)
class CohortRow:
    cohort: date
    size: int
    retained: list[float | None]  # share of the cohort active in week 0, 1, 2, ...


def retention(workspace: Workspace, rng: DateRange, *, weeks: int = 8) -> list[CohortRow]:
    """Week-by-week retention of the cohorts (first active week) starting in the range."""
    first, last = week_start(rng.start), week_start(rng.end)
    rows = CohortWeek.objects.filter(
        workspace=workspace, cohort__gte=first, cohort__lte=last, week__lt=last + timedelta(days=7 * (weeks + 1))
    ).values_list("cohort", "week", "members")
    grid: dict[date, dict[int, int]] = defaultdict(dict)
    for cohort, week, members in rows:
        grid[cohort][(week - cohort).days // 7] = members
    current = week_start(today(workspace))
    out = []
    for cohort in sorted(grid):
        size = grid[cohort].get(0, 0)
        retained: list[float | None] = []
        for k in range(weeks):
            if cohort + timedelta(days=7 * k) > current:
                break
            retained.append(grid[cohort].get(k, 0) / size if size else None)
        out.append(CohortRow(cohort, size, retained))
    return out


LIFECYCLE_STATES = ("new", "active", "at_risk", "churned")
AT_RISK_DAYS = 30
CHURNED_DAYS = 60


def lifecycle_state(first_day: date | None, last_day: date | None, on: date) -> str | None:
    """Activity-derived state on a day: new (first active in the last 30 days), active (posted in the last 30),
    at risk (last post 30–60 days ago), churned (more than 60)."""
    if first_day is None or last_day is None or first_day > on:
        return None
    if (on - first_day).days < AT_RISK_DAYS:
        return "new"
    idle = (on - last_day).days
    if idle < AT_RISK_DAYS:
        return "active"
    if idle < CHURNED_DAYS:
        return "at_risk"
    return "churned"


def lifecycle_flows(workspace: Workspace, rng: DateRange) -> dict[tuple[str, str], int]:
    """(from, to) → members, between the start and the end of the range.

    From the members area's lifecycle events when there are any in the range; otherwise derived from activity
    (`lifecycle_state` on the day before the range and on its last day; "" = not a member yet)."""
    events = LifecycleFact.objects.filter(workspace=workspace, day__gte=rng.start, day__lte=rng.end)
    if events.exists():
        return {
            (r["from_state"], r["to_state"]): r["n"]
            for r in events.values("from_state", "to_state").annotate(n=Count("pk"))
        }
    before = rng.start - timedelta(days=1)
    flows: dict[tuple[str, str], int] = defaultdict(int)
    days = MemberDay.objects.filter(workspace=workspace, day__lte=rng.end)
    spans = days.values("member_id").annotate(
        first=Min("day"), last=Max("day"), last_before=Max("day", filter=Q(day__lte=before))
    )
    for row in spans:
        old = lifecycle_state(row["first"], row["last_before"], before) or ""
        new = lifecycle_state(row["first"], row["last"], rng.end) or ""
        flows[(old, new)] += 1
    return dict(flows)


def lifecycle_counts(workspace: Workspace, on: date) -> dict[str, int]:
    """Members per activity state on a day."""
    counts = dict.fromkeys(LIFECYCLE_STATES, 0)
    rows = MemberActivity.objects.filter(workspace=workspace, first_day__lte=on).values_list("first_day", "last_day")
    for first, last in rows:
        state = lifecycle_state(first, min(last, on), on)
        if state:
            counts[state] += 1
    return counts


def unit_of(metric: str) -> Unit:
    return registry.get(metric).unit
