"""Goals: progress, forecast, status and drift alerts.

- **Current value**: the metric over the trailing 28 days (4 weeks) ending today (or the deadline, once it
  passed). Counts therefore read "per 4 weeks"; rates and times are those of the last 4 weeks.
- **Forecast**: the same 28-day value measured at the last 8 weekly points (today, today − 7 d, …); a
  least-squares line through the points that have a value, extended to the deadline. At least 3 points are
  needed; with fewer, the forecast is the current value (no trend yet).
- **Status**: achieved/missed once the deadline passed; before it, *on track* when the forecast meets the
  target, *at risk* when it misses by at most 10% of the target (or the current value meets the target
  but the trend leads away from it), *off track* otherwise.
- **Alert**: when the status becomes at risk or off track (and it was not already alerted at that level or
  worse), a "goal.drifted" domain event and an in-app Notice; back on track clears the alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from communa.analytics import selectors
from communa.analytics.models import Goal, Notice
from communa.analytics.rollups import today
from communa.analytics.selectors import DateRange, Filters
from communa.events.services import emit

WINDOW_DAYS = 28
TREND_POINTS = 8
AT_RISK_MARGIN = 0.10
SEVERITY = {"": 0, Goal.Status.ON_TRACK: 0, Goal.Status.AT_RISK: 1, Goal.Status.OFF_TRACK: 2}


def goal_filters(goal: Goal) -> Filters:
    f = goal.filters or {}
    return Filters(
        source_id=int(f["source_id"]) if f.get("source_id") else None,
        language=str(f["language"]) if f.get("language") else None,
        segment_id=int(f["segment_id"]) if f.get("segment_id") else None,
    )


def meets(goal: Goal, value: float | None) -> bool:
    if value is None:
        return False
    return value <= goal.target if goal.comparison == Goal.Comparison.AT_MOST else value >= goal.target


def linear_forecast(points: list[tuple[float, float]], at: float) -> float | None:
    """Least-squares line through (x, y) points, evaluated at x = at. None with fewer than 3 points."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return my
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return my + slope * (at - mx)


@dataclass(frozen=True, slots=True)
class Evaluation:
    current: float | None
    forecast: float | None
    progress: float | None
    status: str
    trend: list[tuple[date, float | None]]


def evaluate(goal: Goal, *, on: date | None = None) -> Evaluation:
    workspace = goal.workspace
    on = on or today(workspace)
    end = min(on, goal.deadline)
    filters = goal_filters(goal)
    metric = goal.metric
    trend: list[tuple[date, float | None]] = []
    for k in range(TREND_POINTS - 1, -1, -1):
        point = end - timedelta(days=7 * k)
        trend.append((point, selectors.value(workspace, metric, DateRange.last(WINDOW_DAYS, end=point), filters)))
    current = trend[-1][1]
    known = [((d - end).days, v) for d, v in trend if v is not None]
    forecast = linear_forecast([(float(x), float(y)) for x, y in known], float((goal.deadline - end).days))
    if forecast is None:
        forecast = current
    if goal.metric in ("peer_answer_ratio", "peer_reply_share", "response_rate", "engagement_rate") and forecast:
        forecast = max(0.0, min(1.0, forecast))
    if forecast is not None and forecast < 0 and selectors.unit_of(metric) != "percent":
        forecast = 0.0
    status = _status(goal, current, forecast, on)
    return Evaluation(current, forecast, _progress(goal, current), status, trend)


def _status(goal: Goal, current: float | None, forecast: float | None, on: date) -> str:
    if current is None:
        return Goal.Status.NO_DATA
    if on > goal.deadline:
        return Goal.Status.ACHIEVED if meets(goal, current) else Goal.Status.MISSED
    if meets(goal, forecast):
        return Goal.Status.ON_TRACK
    assert forecast is not None
    gap = abs(forecast - goal.target)
    if meets(goal, current) or gap <= AT_RISK_MARGIN * max(abs(goal.target), 1e-9):
        return Goal.Status.AT_RISK
    return Goal.Status.OFF_TRACK


def _progress(goal: Goal, current: float | None) -> float | None:
    if current is None:
        return None
    baseline = goal.baseline if goal.baseline is not None else current
    if meets(goal, current):
        return 1.0
    span = goal.target - baseline
    if span == 0:
        return 0.0
    return max(0.0, min(1.0, (current - baseline) / span))


def evaluate_goal(goal: Goal, *, set_baseline: bool = False, alert: bool = True, on: date | None = None) -> Goal:
    """Recompute and store a goal's numbers; alert when it drifted. Safe to run any number of times."""
    result = evaluate(goal, on=on)
    if set_baseline or goal.baseline is None:
        goal.baseline = result.current
    goal.current, goal.forecast, goal.status = result.current, result.forecast, result.status
    goal.progress = _progress(goal, result.current)
    goal.checked_at = timezone.now()
    with transaction.atomic():
        if alert and SEVERITY.get(goal.status, 0) > SEVERITY.get(goal.alerted_status, 0):
            _alert(goal)
            goal.alerted_status = goal.status
        elif goal.status in (Goal.Status.ON_TRACK, Goal.Status.ACHIEVED):
            goal.alerted_status = ""
        goal.save()
    return goal


def _alert(goal: Goal) -> None:
    data = {
        "goal_id": goal.pk,
        "metric": goal.metric,
        "status": goal.status,
        "previous_status": goal.alerted_status or Goal.Status.ON_TRACK,
        "current": goal.current,
        "forecast": goal.forecast,
        "target": goal.target,
        "comparison": goal.comparison,
        "deadline": goal.deadline.isoformat(),
    }
    emit(workspace_id=goal.workspace_id, name="goal.drifted", data=data)
    Notice.objects.create(
        workspace_id=goal.workspace_id, kind=Notice.Kind.GOAL_DRIFTED, goal=goal, data=data, created_at=timezone.now()
    )


def check_goals() -> int:
    """Periodic: evaluate every live goal (deadline not older than a week)."""
    cutoff = timezone.now().date() - timedelta(days=7)
    n = 0
    for goal in Goal.objects.filter(archived=False, deadline__gte=cutoff).select_related("workspace"):
        evaluate_goal(goal)
        n += 1
    return n
