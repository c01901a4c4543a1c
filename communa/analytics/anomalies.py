"""Anomalies: hours whose volume, negativity or toxicity left a seasonal baseline, explained and alerted.

Baseline (weekday × hour aware, robust): for an hour H, the values of the same metric at the same weekday
and hour in the previous `BASELINE_WEEKS` weeks (H − 7 d, H − 14 d, …; an hour without messages counts 0).
Expected = their median; spread = max(1.4826 × MAD, √median, 1) — the MAD made consistent with a standard
deviation, floored by a Poisson-like √median so that quiet hours with a MAD of 0 do not alert on noise.
score = (observed − expected) / spread. A **spike** needs score ≥ `THRESHOLD` and at least `MIN_COUNT`
messages; a **drop** (volume only) needs score ≤ −`THRESHOLD` and an expected volume of at least
`MIN_DROP_EXPECTED`. At least `MIN_WEEKS` weeks of baseline are required (hourly rollups cover 63 days).

Days (local to the workspace): the same test for each local day against the same weekday of the previous
`BASELINE_WEEKS` weeks (days before the community's first message are no baseline), from DailyRollup, with
day-sized minimums (`DAY_MIN_COUNT`, `DAY_MIN_DROP_EXPECTED`). A surge spread over a whole day (a launch)
can stay under every hour's threshold and still be the day's story. A day needs a score of `DAY_THRESHOLD`
(6): one per day and source is checked, and a small community's ordinary busy days reach 4–5.

Each anomaly is stored once (unique per workspace, metric, hour, source), explained with its top sources,
languages, members, sample messages and the topics of those messages, and alerted with an
"anomaly.detected" domain event and an in-app Notice.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from statistics import median
from typing import Any, cast

from django.db import IntegrityError, transaction
from django.db.models import Min, Q, Sum
from django.utils import timezone

from communa.accounts.models import Workspace
from communa.analytics.models import Anomaly, DailyRollup, HourlyRollup, MessageFact, Notice
from communa.analytics.rollups import day_bounds, hourly_days, local_day, workspace_tz
from communa.analytics.topics import topics_of_messages
from communa.events.services import emit

BASELINE_WEEKS = 8
MIN_WEEKS = 4
THRESHOLD = 4.0
MIN_COUNT = {"volume": 10, "negativity": 4, "toxicity": 3}
MIN_DROP_EXPECTED = 20.0
DAY_THRESHOLD = 6.0  # a whole day must be further out than an hour to be the day's story
DAY_MIN_COUNT = {"volume": 30, "negativity": 10, "toxicity": 5}
DAY_MIN_DROP_EXPECTED = 60.0
LOOKBACK_DAYS = 2  # the periodic check looks at the last two complete local days again
COUNTER = {"volume": "messages", "negativity": "negative", "toxicity": "toxic"}
FACT_CONDITION = {
    "volume": Q(counted=True),
    "negativity": Q(counted=True, sentiment="negative"),
    "toxicity": Q(counted=True, toxic=True),
}
LOOKBACK_HOURS = 3  # the periodic check looks at the last complete hours again (late batches)
SETTLE_MINUTES = 10  # an hour is checked once it ended this long ago


def baseline(values: list[float]) -> tuple[float, float]:
    """(median, robust spread) of the baseline values."""
    m = median(values)
    mad = median([abs(v - m) for v in values])
    return m, max(1.4826 * mad, m**0.5, 1.0)


def _hour_floor(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _load(workspace: Workspace, lo: datetime, hi: datetime) -> dict[tuple[datetime, int], dict[str, int]]:
    """Hourly counters per (hour, source) and per (hour, 0 = all sources)."""
    rows = (
        HourlyRollup.objects.filter(workspace=workspace, hour__gte=lo, hour__lt=hi)
        .values("hour", "source_id")
        .annotate(messages=Sum("messages"), negative=Sum("negative"), toxic=Sum("toxic"))
    )
    out: dict[tuple[datetime, int], dict[str, int]] = defaultdict(lambda: {"messages": 0, "negative": 0, "toxic": 0})
    for row in rows:
        hour = row["hour"].astimezone(UTC)
        for name in ("messages", "negative", "toxic"):
            out[(hour, row["source_id"])][name] += row[name] or 0
            out[(hour, 0)][name] += row[name] or 0
    return out


@dataclass(frozen=True, slots=True)
class _Finding:
    metric: str
    kind: str
    observed: float
    expected: float
    spread: float
    score: float


def _judge(metric: str, observed: float, past: list[float], *, day: bool = False) -> _Finding | None:
    """A spike or a drop of `observed` against its baseline values, or None."""
    if len(past) < MIN_WEEKS:
        return None
    expected, spread = baseline(past)
    score = (observed - expected) / spread
    minimum = (DAY_MIN_COUNT if day else MIN_COUNT)[metric]
    threshold = DAY_THRESHOLD if day else THRESHOLD
    if score >= threshold and observed >= minimum:
        return _Finding(metric, Anomaly.Kind.SPIKE, observed, expected, spread, score)
    drop_floor = DAY_MIN_DROP_EXPECTED if day else MIN_DROP_EXPECTED
    if metric == "volume" and score <= -threshold and expected >= drop_floor:
        return _Finding(metric, Anomaly.Kind.DROP, observed, expected, spread, score)
    return None


def detect(*, workspace: Workspace, start: datetime, end: datetime, per_source: bool = True) -> list[Anomaly]:
    """Check every complete hour in [start, end); store and alert the anomalies found (once each)."""
    first, last = _hour_floor(start), _hour_floor(end)
    floor = _hour_floor(timezone.now()) - timedelta(days=hourly_days())
    data = _load(workspace, max(first - timedelta(weeks=BASELINE_WEEKS), floor), last)
    sources = sorted({s for _, s in data if s}) if per_source else []
    found: list[Anomaly] = []
    hour = first
    while hour < last:
        history = [hour - timedelta(weeks=k) for k in range(1, BASELINE_WEEKS + 1)]
        history = [h for h in history if h >= floor]
        for source_id in [0, *sources]:
            for metric, counter in COUNTER.items():
                past = [float(data.get((h, source_id), {}).get(counter, 0)) for h in history]
                observed = float(data.get((hour, source_id), {}).get(counter, 0))
                finding = _judge(metric, observed, past)
                window = (hour, hour + timedelta(hours=1))
                if finding and (anomaly := _store(workspace, finding, Anomaly.Granularity.HOUR, window, source_id)):
                    found.append(anomaly)
        hour += timedelta(hours=1)
    return found


def _load_days(workspace: Workspace, lo: date, hi: date) -> dict[tuple[date, int], dict[str, int]]:
    """Daily counters per (local day, source) and per (day, 0 = all sources), from DailyRollup."""
    rows = (
        DailyRollup.objects.filter(workspace=workspace, day__gte=lo, day__lte=hi)
        .values("day", "source_id")
        .annotate(messages=Sum("messages"), negative=Sum("negative"), toxic=Sum("toxic"))
    )
    out: dict[tuple[date, int], dict[str, int]] = defaultdict(lambda: {"messages": 0, "negative": 0, "toxic": 0})
    for row in rows:
        for name in ("messages", "negative", "toxic"):
            out[(row["day"], row["source_id"])][name] += row[name] or 0
            out[(row["day"], 0)][name] += row[name] or 0
    return out


def detect_days(*, workspace: Workspace, start: date, end: date, per_source: bool = True) -> list[Anomaly]:
    """Check every local day start..end against the same weekday of the previous weeks (a launch-week surge
    spread over a day can stay under every hour's threshold and still be the day's story)."""
    tz = workspace_tz(workspace)
    first_data = DailyRollup.objects.filter(workspace=workspace).aggregate(lo=Min("day"))["lo"]
    if first_data is None:
        return []
    data = _load_days(workspace, start - timedelta(weeks=BASELINE_WEEKS), end)
    sources = sorted({s for _, s in data if s}) if per_source else []
    found: list[Anomaly] = []
    day = start
    while day <= end:
        history = [day - timedelta(weeks=k) for k in range(1, BASELINE_WEEKS + 1)]
        history = [h for h in history if h >= first_data]  # before the community existed is no baseline
        for source_id in [0, *sources]:
            for metric, counter in COUNTER.items():
                past = [float(data.get((h, source_id), {}).get(counter, 0)) for h in history]
                observed = float(data.get((day, source_id), {}).get(counter, 0))
                finding = _judge(metric, observed, past, day=True)
                window = day_bounds(day, day, tz)
                if finding and (anomaly := _store(workspace, finding, Anomaly.Granularity.DAY, window, source_id)):
                    found.append(anomaly)
        day += timedelta(days=1)
    return found


def _store(
    workspace: Workspace, finding: _Finding, granularity: str, window: tuple[datetime, datetime], source_id: int
) -> Anomaly | None:
    start, end = window
    metric = finding.metric
    same = Anomaly.objects.filter(workspace=workspace, metric=metric, granularity=granularity, start=start)
    if same.filter(source_id=source_id).exists():
        return None
    if source_id and same.filter(source_id=0).exists():
        return None  # already explained workspace-wide (its explanation names the sources)
    explanation = explain(workspace=workspace, metric=metric, start=start, end=end, source_id=source_id)
    topic_rows = cast(list[dict[str, Any]], explanation.get("topics", []))
    try:
        with transaction.atomic():
            anomaly = Anomaly.objects.create(
                workspace=workspace,
                metric=metric,
                kind=finding.kind,
                granularity=granularity,
                start=start,
                end=end,
                source_id=source_id,
                observed=finding.observed,
                expected=finding.expected,
                spread=finding.spread,
                score=round(finding.score, 3),
                explanation=explanation,
                detected_at=timezone.now(),
            )
            data = {
                "anomaly_id": anomaly.pk,
                "metric": metric,
                "kind": finding.kind,
                "granularity": granularity,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "source_id": source_id or None,
                "observed": finding.observed,
                "expected": finding.expected,
                "score": anomaly.score,
                "topics": [t["term"] for t in topic_rows][:5],
            }
            emit(workspace_id=workspace.pk, name="anomaly.detected", data=data)
            Notice.objects.create(
                workspace=workspace, kind=Notice.Kind.ANOMALY, anomaly=anomaly, data=data, created_at=timezone.now()
            )
    except IntegrityError:  # another worker stored it first
        return None
    return anomaly


def explain(
    *, workspace: Workspace, metric: str, start: datetime, end: datetime, source_id: int = 0
) -> dict[str, object]:
    """What drove a window: top sources, languages and members, sample messages, and their topics."""
    facts = MessageFact.objects.filter(workspace=workspace, hour__gte=start, hour__lt=end).filter(
        FACT_CONDITION[metric]
    )
    if source_id:
        facts = facts.filter(source_id=source_id)
    rows = list(facts.values_list("message_id", "source_id", "language", "member_id"))
    sources = Counter(r[1] for r in rows)
    languages = Counter(r[2] for r in rows)
    members = Counter(r[3] for r in rows if r[3] is not None)
    ids = sorted((r[0] for r in rows), reverse=True)
    return {
        "sources": [{"source_id": s, "messages": n} for s, n in sources.most_common(5)],
        "languages": [{"language": lang or "und", "messages": n} for lang, n in languages.most_common(5)],
        "members": [{"member_id": m, "messages": n} for m, n in members.most_common(5)],
        "message_ids": ids[:20],
        "messages": len(rows),
        "topics": topics_of_messages(ids, workspace=workspace),
    }


def detect_recent(*, workspace: Workspace, now: datetime | None = None) -> list[Anomaly]:
    """The last complete hours, and the last complete local days (yesterday once it has settled)."""
    now = now or timezone.now()
    end = _hour_floor(now - timedelta(minutes=SETTLE_MINUTES))
    found = detect(workspace=workspace, start=end - timedelta(hours=LOOKBACK_HOURS), end=end)
    settled = local_day(now - timedelta(minutes=SETTLE_MINUTES), workspace_tz(workspace)) - timedelta(days=1)
    return found + detect_days(workspace=workspace, start=settled - timedelta(days=LOOKBACK_DAYS - 1), end=settled)


def workspaces_with_recent_data(now: datetime | None = None) -> Iterable[int]:
    now = now or timezone.now()
    since = _hour_floor(now) - timedelta(hours=LOOKBACK_HOURS + 1)
    return HourlyRollup.objects.filter(hour__gte=since).values_list("workspace_id", flat=True).distinct()
