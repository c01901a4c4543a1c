"""What each dashboard shows, assembled from the metric registry and the selectors into tiles and charts.

Pages, the API, the CSV export and the company report all build their numbers here, so a figure reads the
same wherever it appears. This module only composes: the numbers come from `selectors` (rollup tables,
never raw messages), the definitions from `metrics`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import QueryDict
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from communa.accounts.models import Membership, User, Workspace
from communa.analytics import metrics as registry
from communa.analytics import selectors
from communa.analytics.charts import Chart, ChartKind, Series, Unit, day_label, format_value
from communa.analytics.forms import Scope
from communa.analytics.metrics import Metric, Needs, Source
from communa.analytics.models import Anomaly, Goal, Notice
from communa.analytics.selectors import DateRange, Filters
from communa.connectors.models import Source as PlatformSource
from communa.members.models import Member, Segment
from communa.stream.models import Message

# Why a metric has no numbers yet: said instead of showing zeros.
WHY_EMPTY: dict[Needs, Any] = {
    Needs.MESSAGES: gettext_lazy("No messages yet: connect a source and its history comes in."),
    Needs.SIGNALS: gettext_lazy(
        "No message has been analysed yet (sentiment, toxicity, questions): signals appear after ingest, "
        "when enrichment is on."
    ),
    Needs.INBOX: gettext_lazy(
        "No inbox conversations yet: response times appear once the team answers conversations in the inbox."
    ),
    Needs.ANSWERS: gettext_lazy("No answered questions yet: the inbox records who answers each question."),
    Needs.MODERATION: gettext_lazy("No moderation actions yet."),
}


CHANGE_CAP = 9.99  # changes beyond ±999% are shown as ">999%"


class Availability:
    """Which metrics have data in a workspace, read once per request (five EXISTS queries)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    @cached_property
    def keys(self) -> frozenset[str]:
        return frozenset(m.key for m in selectors.available_metrics(self.workspace))

    def reason(self, key: str) -> str:
        return "" if key in self.keys else str(WHY_EMPTY[registry.get(key).needs])


def unit(metric: Metric) -> Unit:
    return metric.unit.value


@dataclasses.dataclass(frozen=True)
class Tile:
    """A headline number: its value over the range, the previous period's, and the change between them."""

    key: str
    label: str
    definition: str
    unit: Unit
    value: float | None
    previous: float | None
    empty_reason: str = ""
    drill: str = ""
    higher_is_better: bool = True

    @property
    def display(self) -> str:
        return format_value(self.value, self.unit)

    @property
    def previous_display(self) -> str:
        return format_value(self.previous, self.unit)

    @property
    def change(self) -> float | None:
        """Relative change against the previous period (0.12 = +12%), None when it cannot be said."""
        if self.value is None or self.previous is None or self.previous == 0:
            return None
        return (self.value - self.previous) / abs(self.previous)

    @property
    def direction(self) -> str:
        change = self.change
        if change is None or abs(change) < 0.005:
            return "flat"
        return "up" if change > 0 else "down"

    @property
    def tone(self) -> str:
        """good / bad / flat: whether the change is welcome (faster responses are good, more toxicity bad)."""
        if self.direction == "flat":
            return "flat"
        return "good" if (self.direction == "up") == self.higher_is_better else "bad"

    @property
    def change_display(self) -> str:
        change = self.change
        if change is None:
            return ""
        arrow = {"up": "▲", "down": "▼"}.get(self.direction, "■")
        if abs(change) >= CHANGE_CAP:  # from almost nothing: a four-digit percentage says nothing more
            return f"{arrow} >{format_value(CHANGE_CAP, 'percent')}"
        return f"{arrow} {format_value(abs(change), 'percent')}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "definition": self.definition,
            "unit": self.unit,
            "value": self.value,
            "previous": self.previous,
            "display": self.display,
            "previous_display": self.previous_display,
            "change": self.change,
            "change_display": self.change_display,
            "tone": self.tone,
            "direction": self.direction,
            "empty_reason": self.empty_reason,
        }


@dataclasses.dataclass(frozen=True)
class ChartSpec:
    key: str
    metrics: tuple[str, ...]
    kind: ChartKind = "line"
    title: Callable[[], str] | None = None  # defaults to the first metric's label


@dataclasses.dataclass(frozen=True)
class Page:
    key: str
    title: Callable[[], str]
    lede: Callable[[], str]
    tiles: tuple[str, ...]
    charts: tuple[ChartSpec, ...]


PAGES: dict[str, Page] = {
    "overview": Page(
        key="overview",
        title=lambda: _("Overview"),
        lede=lambda: _("How the community is doing: activity, answers, mood, and the goals you set."),
        tiles=("mau", "members_new", "messages", "peer_answer_ratio", "first_response_median", "sentiment_negative"),
        charts=(
            ChartSpec("messages", ("messages",)),
            ChartSpec("dau", ("dau",)),
            ChartSpec("peer_answer_ratio", ("peer_answer_ratio",)),
            ChartSpec("sentiment", ("sentiment_positive", "sentiment_negative"), title=lambda: _("Sentiment")),
        ),
    ),
    "community": Page(
        key="community",
        title=lambda: _("Community"),
        lede=lambda: _("Who takes part: members, newcomers, how many come back, and where they talk."),
        tiles=("members_total", "members_new", "dau", "wau", "mau", "engagement_rate", "stickiness"),
        charts=(
            ChartSpec("active", ("dau", "wau", "mau"), title=lambda: _("Active members")),
            ChartSpec("members_new", ("members_new",), kind="bar"),
            ChartSpec("platform_mix", ("messages",), kind="hbar", title=lambda: _("Messages by source")),
            ChartSpec("language_mix", ("messages",), kind="hbar", title=lambda: _("Messages by language")),
        ),
    ),
    "conversations": Page(
        key="conversations",
        title=lambda: _("Conversations & response"),
        lede=lambda: _("Threads and replies, who answers questions, and how fast the team responds."),
        tiles=(
            "messages",
            "threads",
            "replies_per_thread",
            "peer_reply_share",
            "questions",
            "peer_answer_ratio",
            "response_rate",
            "first_response_median",
            "first_response_p90",
        ),
        charts=(
            ChartSpec("messages_threads", ("messages", "threads"), title=lambda: _("Messages and threads")),
            ChartSpec("peer_answer_ratio", ("peer_answer_ratio",)),
            ChartSpec("peer_reply_share", ("peer_reply_share",)),
            ChartSpec("questions", ("questions", "questions_answered"), kind="bar", title=lambda: _("Questions")),
            ChartSpec(
                "first_response",
                ("first_response_median", "first_response_p90"),
                title=lambda: _("First response time (business hours)"),
            ),
            ChartSpec("response_rate", ("response_rate",)),
        ),
    ),
    "sentiment": Page(
        key="sentiment",
        title=lambda: _("Sentiment & safety"),
        lede=lambda: _("The mood of the community, toxic messages, and the moderation they called for."),
        tiles=(
            "net_sentiment",
            "sentiment_positive",
            "sentiment_negative",
            "toxic_messages",
            "toxicity_rate",
            "moderation_actions",
            "spam_messages",
        ),
        charts=(
            ChartSpec("sentiment", ("sentiment_positive", "sentiment_negative"), title=lambda: _("Sentiment")),
            ChartSpec("net_sentiment", ("net_sentiment",)),
            ChartSpec("negative_messages", ("negative_messages",), kind="bar"),
            ChartSpec("toxic_messages", ("toxic_messages",), kind="bar"),
            ChartSpec("moderation_actions", ("moderation_actions",), kind="bar"),
        ),
    ),
    "topics": Page(
        key="topics",
        title=lambda: _("Topics"),
        lede=lambda: _("What people talk about: the keywords of the period, by language."),
        tiles=("messages", "questions", "sentiment_negative"),
        charts=(ChartSpec("top_topics", ("messages",), kind="hbar", title=lambda: _("Top topics")),),
    ),
}


def granularity(rng: DateRange, metrics: Sequence[Metric] = ()) -> str:
    """Days up to four months, weeks up to about a year and a half, months beyond. Shares and ratios go weekly
    beyond a month: a daily share of a handful of questions jumps between 0% and 100% and hides the trend."""
    if rng.days <= 120:
        shares = any(m.unit.value in ("percent", "ratio") for m in metrics)
        return "week" if shares and rng.days > 31 else "day"
    return "week" if rng.days <= 550 else "month"


def _url(name: str, workspace: Workspace, query: QueryDict | dict[str, Any]) -> str:
    if isinstance(query, dict):
        q = QueryDict(mutable=True)
        for key, value in query.items():
            if value not in (None, ""):
                q[key] = str(value)
        query = q
    encoded = query.urlencode()
    return reverse(name, args=[workspace.slug]) + (f"?{encoded}" if encoded else "")


def drillable(metric: Metric) -> bool:
    return metric.source in (Source.DAILY, Source.ACTIVE, Source.ANSWERS)


def drill_link(workspace: Workspace, metric: str, scope: Scope, start: date, end: date) -> str | None:
    """Where a click on a point of `metric` covering [start, end] leads (messages or members), or None."""
    if not drillable(registry.get(metric)):
        return None
    query = scope.query(range="custom", since=start.isoformat(), until=end.isoformat(), metric=metric)
    return _url("analytics:drill", workspace, query)


def tiles(workspace: Workspace, scope: Scope, keys: Sequence[str], available: Availability) -> list[Tile]:
    result = []
    for key in keys:
        metric = registry.get(key)
        reason = available.reason(key)
        current = previous = None
        if not reason:
            if scope.compare:
                comparison = selectors.compare(workspace, metric, scope.range, scope.filters)
                current, previous = comparison.current, comparison.previous
            else:
                current = selectors.value(workspace, metric, scope.range, scope.filters)
        result.append(
            Tile(
                key=key,
                label=str(metric.label),
                definition=str(metric.definition),
                unit=unit(metric),
                value=current,
                previous=previous,
                empty_reason=reason,
                drill=(drill_link(workspace, key, scope, scope.range.start, scope.range.end) or "")
                if not reason
                else "",
                higher_is_better=metric.higher_is_better,
            )
        )
    return result


def _label(point: selectors.Point) -> str:
    if isinstance(point.start, datetime):
        return day_label(point.start, hourly=True)
    if point.start == point.end:
        return day_label(point.start)
    if point.start.month == point.end.month:  # "Aug 24–30", "24–30 ago": the month said once
        if (get_language() or "en").startswith("en"):
            return f"{day_label(point.start)}–{point.end.day}"
        return f"{point.start.day}–{day_label(point.end)}"
    return f"{day_label(point.start)}–{day_label(point.end)}"


def time_chart(workspace: Workspace, scope: Scope, spec: ChartSpec, available: Availability) -> Chart:
    """A chart over time: one series per metric, plus the previous period (dashed) when there is one metric."""
    metrics = [registry.get(key) for key in spec.metrics]
    first = metrics[0]
    reason = next((r for m in metrics if (r := available.reason(m.key))), "")
    grain = granularity(scope.range, metrics)
    series: list[Series] = []
    points: list[selectors.Point] = [
        selectors.Point(start, end, None) for start, end in selectors.buckets(scope.range, grain)
    ]
    for metric in metrics if not reason else ():
        points = selectors.series(workspace, metric, scope.range, grain, scope.filters)
        links = [drill_link(workspace, metric.key, scope, _day(p.start), _day(p.end)) for p in points]
        series.append(Series(name=str(metric.label), values=[p.value for p in points], links=links))
    if series and scope.compare and len(metrics) == 1 and spec.kind == "line":
        previous = selectors.series(workspace, first, scope.range.previous(), grain, scope.filters)
        series.append(Series(name=_("Previous period"), values=[p.value for p in previous], previous=True))
    return Chart(
        key=spec.key,
        title=spec.title() if spec.title else str(first.label),
        kind=spec.kind,
        labels=[_label(p) for p in points],
        keys=[_day(p.start).isoformat() for p in points],
        series=series,
        unit=unit(first),
        definition=" ".join(str(m.definition) for m in metrics),
        empty_reason=reason,
    )


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def breakdown_chart(workspace: Workspace, scope: Scope, spec: ChartSpec, available: Availability) -> Chart:
    """A ranking (messages by source or language, top topics) as horizontal bars, each bar a drill-down."""
    reason = available.reason("messages")
    rows: list[selectors.Ranked] = []
    links: list[str | None] = []
    definition = str(registry.get("messages").definition)
    if not reason and spec.key == "top_topics":
        rows = selectors.top_topics(workspace, scope.range, scope.filters, limit=12)
        links = [topic_link(workspace, scope, str(row.key)) for row in rows]
        definition = _("Keywords extracted from members' messages, by how many messages contain them.")
        if not rows:
            reason = _("No topics yet: keywords are extracted from the messages of each day, a few minutes after.")
    elif not reason:
        dimension = "language" if spec.key == "language_mix" else "source"
        rows = selectors.mix(workspace, scope.range, dimension, scope.filters)
        for row in rows:
            override = {"language": row.key} if dimension == "language" else {"source": row.key}
            links.append(_url("stream:index", workspace, _stream_params(scope, scope.range, override)))
    return Chart(
        key=spec.key,
        title=spec.title() if spec.title else spec.key,
        kind="hbar",
        labels=[row.label for row in rows],
        keys=[str(row.key) for row in rows],
        series=[Series(name=_("Messages"), values=[row.value for row in rows], links=links)] if rows else [],
        unit="count",
        definition=definition,
        empty_reason=reason,
    )


def chart_for(workspace: Workspace, scope: Scope, spec: ChartSpec, available: Availability | None = None) -> Chart:
    available = available or Availability(workspace)
    if spec.kind == "hbar":
        return breakdown_chart(workspace, scope, spec, available)
    return time_chart(workspace, scope, spec, available)


@dataclasses.dataclass(frozen=True)
class Dashboard:
    page: Page
    tiles: list[Tile]
    charts: list[Chart]


def dashboard(workspace: Workspace, scope: Scope, page_key: str) -> Dashboard:
    page = PAGES[page_key]
    available = Availability(workspace)
    return Dashboard(
        page=page,
        tiles=tiles(workspace, scope, page.tiles, available),
        charts=[chart_for(workspace, scope, spec, available) for spec in page.charts],
    )


def find_chart(page_key: str, chart_key: str) -> ChartSpec | None:
    page = PAGES.get(page_key)
    if page is None:
        return None
    return next((spec for spec in page.charts if spec.key == chart_key), None)


# Filters


def filter_choices(workspace: Workspace) -> dict[str, list[tuple[Any, str]]]:
    sources = list(PlatformSource.objects.filter(workspace=workspace).order_by("name").values_list("pk", "name"))
    languages = [(code, code) for code in workspace.languages or []]
    segments = list(Segment.objects.filter(workspace=workspace).order_by("name").values_list("pk", "name"))
    return {"sources": sources, "languages": languages, "segments": segments}


def role_of(user: User | AnonymousUser, workspace: Workspace) -> str:
    if not user.is_authenticated:
        return ""
    return Membership.objects.filter(user=user, workspace=workspace).values_list("role", flat=True).first() or ""


# Drill-down


# A message metric's point, as stream filters (communa/stream/filters.py MessageFilter) add to day and scope.
STREAM_FILTERS: dict[str, dict[str, str]] = {
    "messages": {},
    "threads": {},
    "replies_per_thread": {},
    "peer_reply_share": {},
    "questions": {"question": "true"},
    "sentiment_positive": {"sentiment": "positive"},
    "sentiment_negative": {"sentiment": "negative"},
    "net_sentiment": {},
    "negative_messages": {"sentiment": "negative"},
    "toxic_messages": {"toxic": "true"},
    "toxicity_rate": {"toxic": "true"},
    "spam_messages": {"spam": "true"},
}


def _stream_params(scope: Scope, rng: DateRange, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "since": rng.start.isoformat(),
        "until": rng.end.isoformat(),
        "source": scope.source,
        "language": scope.language,
        **extra,
    }


def topic_link(workspace: Workspace, scope: Scope, term: str) -> str:
    return _url("stream:index", workspace, _stream_params(scope, scope.range, {"q": term}))


@dataclasses.dataclass
class DrillTarget:
    """Either a URL (the stream page with a filter) or a list of messages or members shown on a drill page."""

    metric: Metric
    range: DateRange
    url: str = ""
    messages: list[Message] = dataclasses.field(default_factory=list)
    members: list[Member] = dataclasses.field(default_factory=list)
    total: int = 0


DRILL_LIMIT = 100


def drill_target(workspace: Workspace, metric_key: str, scope: Scope) -> DrillTarget | None:
    metric = registry.BY_KEY.get(metric_key)
    if metric is None or not drillable(metric):
        return None
    rng = scope.range
    if metric.source is Source.ACTIVE:
        members: QuerySet[Member] = selectors.drill_members(workspace, metric.key, rng, scope.filters)
        return DrillTarget(metric, rng, members=list(members[:DRILL_LIMIT]), total=members.count())
    if metric.key in STREAM_FILTERS and scope.segment is None:
        url = _url("stream:index", workspace, _stream_params(scope, rng, STREAM_FILTERS[metric.key]))
        return DrillTarget(metric, rng, url=url)
    found = selectors.drill_messages(workspace, metric.key, rng, scope.filters).select_related(
        "source", "member", "thread"
    )
    return DrillTarget(metric, rng, messages=list(found[:DRILL_LIMIT]), total=found.count())


# Goals and anomalies


@dataclasses.dataclass(frozen=True)
class GoalCard:
    goal: Goal
    metric: Metric | None
    current: str
    target: str
    forecast: str
    progress_pct: int
    # The unread drift alert: {"from": label, "to": label, "at": datetime, "notice_id": int}, or None.
    alert: dict[str, Any] | None = None

    @property
    def status_class(self) -> str:
        return f"status-{self.goal.status}"


def goal_card(goal: Goal, alert: Notice | None = None) -> GoalCard:
    metric = registry.BY_KEY.get(goal.metric)
    u: Unit = unit(metric) if metric else "count"
    progress = goal.progress if goal.progress is not None else 0.0
    return GoalCard(
        goal=goal,
        metric=metric,
        current=format_value(goal.current, u),
        target=format_value(goal.target, u),
        # A forecast of a count is a whole number: "355 members", not "354.8".
        forecast=format_value(round(goal.forecast) if u == "count" and goal.forecast is not None else goal.forecast, u),
        progress_pct=round(max(0.0, min(1.0, progress)) * 100),
        alert=_alert(alert),
    )


def _alert(notice: Notice | None) -> dict[str, Any] | None:
    if notice is None:
        return None
    labels = dict(Goal.Status.choices)
    return {
        "from": str(labels.get(notice.data.get("previous_status", ""), "")),
        "to": str(labels.get(notice.data.get("status", ""), "")),
        "at": notice.created_at,
        "notice_id": notice.pk,
    }


def goal_cards(workspace: Workspace, *, include_archived: bool = False) -> list[GoalCard]:
    qs = Goal.objects.filter(workspace=workspace)
    if not include_archived:
        qs = qs.filter(archived=False)
    goals = list(qs.order_by("archived", "deadline", "pk"))
    # The latest unread drift alert of each goal, in one query.
    alerts: dict[int, Notice] = {}
    unread = Notice.objects.filter(
        workspace=workspace, kind=Notice.Kind.GOAL_DRIFTED, read_at=None, goal_id__in=[g.pk for g in goals]
    )
    for notice in unread.order_by("created_at", "pk"):
        if notice.goal_id is not None:
            alerts[notice.goal_id] = notice
    return [goal_card(goal, alerts.get(goal.pk)) for goal in goals]


@dataclasses.dataclass(frozen=True)
class Callout:
    anomaly: Anomaly
    title: str
    ratio: str
    topics: list[str]
    sources: list[str]
    link: str


def anomaly_callouts(workspace: Workspace, scope: Scope, *, limit: int = 3) -> list[Callout]:
    """Anomalies that started in the range, strongest first, each with its explanation and a drill link."""
    lo = datetime.combine(scope.range.start - timedelta(days=1), datetime.min.time()).astimezone()
    hi = datetime.combine(scope.range.end + timedelta(days=2), datetime.min.time()).astimezone()
    found = Anomaly.objects.filter(workspace=workspace, start__gte=lo, start__lt=hi)
    if scope.source is not None:
        found = found.filter(source_id__in=[0, scope.source])
    # The strongest by score, then the biggest in messages first: "74 vs 14" matters more than "10 vs 0".
    strongest = list(found.order_by("-score", "-start")[: limit * 4])
    rows = sorted(strongest, key=lambda a: (-(a.observed - a.expected), -a.start.timestamp()))[:limit]
    names = dict(PlatformSource.objects.filter(workspace=workspace).values_list("pk", "name"))
    return [_callout(workspace, scope, anomaly, names) for anomaly in rows]


def _callout(workspace: Workspace, scope: Scope, anomaly: Anomaly, names: dict[int, str]) -> Callout:
    explanation = anomaly.explanation or {}
    from communa.analytics.rollups import workspace_tz

    local = anomaly.start.astimezone(workspace_tz(workspace))
    day = local.date()
    whole_day = getattr(anomaly, "granularity", "hour") == "day"
    kind = _("Spike") if anomaly.kind == Anomaly.Kind.SPIKE else _("Drop")
    title = _("%(kind)s in %(metric)s on %(day)s") % {
        "kind": kind,
        "metric": str(anomaly.get_metric_display()).lower(),
        "day": day_label(day) if whole_day else f"{day_label(day)}, {local:%H:%M}",
    }
    ratio = (
        format_value(anomaly.observed, "count")
        + " "
        + _("vs %(expected)s expected") % {"expected": format_value(round(anomaly.expected, 1), "count")}
    )
    extra = {"negativity": {"sentiment": "negative"}, "toxicity": {"toxic": "true"}}.get(anomaly.metric, {})
    params: dict[str, Any] = {"since": day.isoformat(), "until": day.isoformat(), **extra}
    if anomaly.source_id:
        params["source"] = anomaly.source_id
    return Callout(
        anomaly=anomaly,
        title=title,
        ratio=ratio,
        topics=[str(t.get("term", "")) for t in explanation.get("topics", [])[:5] if t.get("term")],
        sources=[names.get(int(s.get("source_id", 0)), "") for s in explanation.get("sources", [])[:3]],
        link=_url("stream:index", workspace, params),
    )


# Extra panels of the area pages (tables rather than charts)


def extras(workspace: Workspace, scope: Scope, page: str) -> dict[str, Any]:
    if page == "community":
        return {
            "cohorts": selectors.retention(workspace, scope.range),
            "cohort_weeks": list(range(8)),
            "contributors": selectors.top_contributors(workspace, scope.range, scope.filters, limit=10),
            "lifecycle": lifecycle_table(workspace, scope.range),
        }
    if page == "conversations":
        return {
            "helpers": selectors.top_contributors(workspace, scope.range, scope.filters, limit=10, by="peer_replies"),
        }
    if page == "topics":
        per_language = []
        for code in (workspace.languages or [])[:7]:
            if scope.language and code != scope.language:
                continue
            flt = Filters(source_id=scope.source, language=code)
            terms = selectors.top_topics(workspace, scope.range, flt, limit=8)
            if terms:
                per_language.append((code, [(t, topic_link(workspace, scope, str(t.key))) for t in terms]))
        return {"topics_by_language": per_language}
    return {}


LIFECYCLE_LABELS = {
    "": gettext_lazy("not yet a member"),
    "new": gettext_lazy("new"),
    "active": gettext_lazy("active"),
    "at_risk": gettext_lazy("at risk"),
    "churned": gettext_lazy("churned"),
}


def lifecycle_table(workspace: Workspace, rng: DateRange) -> list[tuple[str, str, int]]:
    flows = selectors.lifecycle_flows(workspace, rng)
    rows = [(str(LIFECYCLE_LABELS.get(a, a)), str(LIFECYCLE_LABELS.get(b, b)), n) for (a, b), n in flows.items() if n]
    return sorted(rows, key=lambda row: -row[2])
