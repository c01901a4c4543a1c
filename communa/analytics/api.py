"""REST API for analytics: metric definitions and series, goals (CRUD), reports (list, snapshot, PDF).

Workspace resolution and errors are the API's usual ones (accounts.api.api_workspace): 404 for outsiders and
for ids of another workspace, 403 for a role without the permission. Reading needs VIEW_ANALYTICS; goals are
changed with MANAGE_ANALYTICS (owners and community managers).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from django.http import Http404, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from communa.accounts.api import ERRORS, WorkspaceParam, api_user, api_workspace, invalid
from communa.accounts.models import Workspace
from communa.accounts.roles import Perm
from communa.analytics import dashboards, selectors
from communa.analytics import metrics as registry
from communa.analytics import services as analytics_services
from communa.analytics.models import Goal
from communa.analytics.reporting.models import Report
from communa.analytics.reporting.render import report_pdf_response
from communa.analytics.reporting.services import zone
from communa.analytics.selectors import DateRange, Filters

router = Router(tags=["analytics"])

MAX_DAYS = 3 * 366


class MetricOut(Schema):
    key: str
    label: str
    definition: str
    unit: str = Field(description="count, percent (a fraction 0..1), seconds or ratio.")
    area: str
    higher_is_better: bool
    available: bool = Field(description="False while the data it needs does not exist yet (never shown as zero).")
    why_unavailable: str
    can_be_goal: bool


class SeriesQuery(Schema):
    metric: str = Field(default="messages", max_length=60, description="A metric key from GET /analytics/metrics.")
    since: date | None = Field(default=None, description="First local day (default: 27 days before `until`).")
    until: date | None = Field(default=None, description="Last local day, included (default: today).")
    granularity: Literal["day", "week", "month", "hour"] = "day"
    source: int | None = None
    language: str | None = Field(default=None, max_length=12)
    segment: int | None = None
    compare: bool = Field(default=True, description="Also return the previous period of the same length.")


class PointOut(Schema):
    start: date | datetime
    end: date | datetime
    value: float | None


class SeriesOut(Schema):
    metric: str
    unit: str
    since: date
    until: date
    granularity: str
    value: float | None = Field(description="The metric over the whole range.")
    previous_value: float | None
    points: list[PointOut]
    previous_points: list[PointOut]


class GoalIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    metric: str
    comparison: Literal["gte", "lte"]
    target: float = Field(description="In the metric's stored unit: a fraction for percent, seconds for durations.")
    deadline: date


class GoalPatch(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    comparison: Literal["gte", "lte"] | None = None
    target: float | None = None
    deadline: date | None = None


class GoalOut(Schema):
    id: int
    name: str
    metric: str
    comparison: str
    target: float
    start: date
    deadline: date
    baseline: float | None
    current: float | None
    forecast: float | None
    progress: float | None
    status: str
    archived: bool


class ReportOut(Schema):
    id: int
    period: str
    start: date
    end: date
    language: str
    generated_at: datetime
    sent_at: datetime | None


class ReportDetailOut(ReportOut):
    data: dict[str, Any] = Field(description="The snapshot: headlines, goals, what changed, charts.")


def _metric_out(metric: registry.Metric, available: dashboards.Availability) -> MetricOut:
    reason = available.reason(metric.key)
    return MetricOut(
        key=metric.key,
        label=str(metric.label),
        definition=str(metric.definition),
        unit=metric.unit.value,
        area=metric.area,
        higher_is_better=metric.higher_is_better,
        available=not reason,
        why_unavailable=reason,
        can_be_goal=metric.goal,
    )


@router.get("/metrics", response={200: list[MetricOut], **ERRORS}, summary="List metrics")
def list_metrics(request: Any, workspace: WorkspaceParam = None) -> list[MetricOut]:
    """Every metric with its one-line definition and whether its data exists yet in this workspace."""
    ws = api_workspace(request, workspace, Perm.VIEW_ANALYTICS)
    available = dashboards.Availability(ws)
    return [_metric_out(m, available) for m in registry.METRICS]


def _range(ws: Workspace, query: SeriesQuery) -> DateRange:
    today = timezone.now().astimezone(zone(ws.time_zone)).date()
    until = query.until or today
    since = query.since or until - timedelta(days=27)
    if since > until:
        raise invalid(["query", "since"], _("The first day is after the last one."))
    if (until - since).days >= MAX_DAYS:
        raise invalid(["query", "since"], _("Ask for at most %(days)s days at a time.") % {"days": MAX_DAYS})
    return DateRange(since, until)


def _points(points: list[selectors.Point]) -> list[PointOut]:
    return [PointOut(start=p.start, end=p.end, value=p.value) for p in points]


@router.get("/series", response={200: SeriesOut, **ERRORS}, summary="A metric over time")
def metric_series(request: Any, query: Query[SeriesQuery], workspace: WorkspaceParam = None) -> SeriesOut:
    """The metric per day (week, month; hour for message volume, negative and toxic messages over the last
    days), its value over the range and, with `compare`, over the previous period of the same length."""
    ws = api_workspace(request, workspace, Perm.VIEW_ANALYTICS)
    key = query.metric
    metric = registry.BY_KEY.get(key)
    if metric is None:
        raise invalid(["query", "metric"], _("Choose a metric from GET /analytics/metrics."))
    rng = _range(ws, query)
    if query.granularity == "hour" and (not metric.hourly or rng.days > 7):
        raise invalid(
            ["query", "granularity"],
            _("Hourly series exist for message volume, negative and toxic messages, over at most 7 days."),
        )
    filters = Filters(source_id=query.source, language=query.language, segment_id=query.segment)
    reason = dashboards.Availability(ws).reason(key)
    points = [] if reason else selectors.series(ws, metric, rng, query.granularity, filters)
    previous = (
        [] if reason or not query.compare else selectors.series(ws, metric, rng.previous(), query.granularity, filters)
    )
    comparison = selectors.compare(ws, metric, rng, filters) if not reason else None
    return SeriesOut(
        metric=key,
        unit=metric.unit.value,
        since=rng.start,
        until=rng.end,
        granularity=query.granularity,
        value=comparison.current if comparison else None,
        previous_value=comparison.previous if comparison and query.compare else None,
        points=_points(points),
        previous_points=_points(previous),
    )


def _goal_out(goal: Goal) -> GoalOut:
    return GoalOut(
        id=goal.pk,
        name=goal.name,
        metric=goal.metric,
        comparison=goal.comparison,
        target=goal.target,
        start=goal.start,
        deadline=goal.deadline,
        baseline=goal.baseline,
        current=goal.current,
        forecast=goal.forecast,
        progress=goal.progress,
        status=goal.status,
        archived=goal.archived,
    )


def _goal(ws: Workspace, goal_id: int) -> Goal:
    goal = Goal.objects.filter(workspace=ws, pk=goal_id).first()
    if goal is None:
        raise Http404
    return goal


@router.get("/goals", response={200: list[GoalOut], **ERRORS}, summary="List goals")
def list_goals(request: Any, workspace: WorkspaceParam = None, archived: bool = False) -> list[GoalOut]:
    ws = api_workspace(request, workspace, Perm.VIEW_ANALYTICS)
    qs = Goal.objects.filter(workspace=ws)
    if not archived:
        qs = qs.filter(archived=False)
    return [_goal_out(g) for g in qs.order_by("deadline", "pk")]


@router.post("/goals", response={201: GoalOut, **ERRORS}, summary="Create a goal")
def create_goal(request: Any, body: GoalIn, workspace: WorkspaceParam = None) -> Status[GoalOut]:
    ws = api_workspace(request, workspace, Perm.MANAGE_ANALYTICS)
    metric = registry.BY_KEY.get(body.metric)
    if metric is None or not metric.goal:
        raise invalid(["body", "metric"], _("Choose a metric that can be a goal (see GET /analytics/metrics)."))
    try:
        goal = analytics_services.create_goal(
            workspace=ws,
            actor=api_user(request),
            name=body.name,
            metric=body.metric,
            comparison=body.comparison,
            target=body.target,
            deadline=body.deadline,
        )
    except analytics_services.GoalError as exc:
        raise invalid(["body"], str(exc)) from exc
    return Status(201, _goal_out(goal))


@router.get("/goals/{goal_id}", response={200: GoalOut, **ERRORS}, summary="A goal")
def get_goal(request: Any, goal_id: int, workspace: WorkspaceParam = None) -> GoalOut:
    ws = api_workspace(request, workspace, Perm.VIEW_ANALYTICS)
    return _goal_out(_goal(ws, goal_id))


@router.patch("/goals/{goal_id}", response={200: GoalOut, **ERRORS}, summary="Change a goal")
def update_goal(request: Any, goal_id: int, body: GoalPatch, workspace: WorkspaceParam = None) -> GoalOut:
    ws = api_workspace(request, workspace, Perm.MANAGE_ANALYTICS)
    goal = _goal(ws, goal_id)
    try:
        goal = analytics_services.update_goal(goal=goal, actor=api_user(request), **body.model_dump(exclude_none=True))
    except analytics_services.GoalError as exc:
        raise invalid(["body"], str(exc)) from exc
    return _goal_out(goal)


@router.delete("/goals/{goal_id}", response={204: None, **ERRORS}, summary="Archive a goal")
def archive_goal(request: Any, goal_id: int, workspace: WorkspaceParam = None) -> Status[None]:
    """Goals are archived, not deleted: their history stays readable with `archived=true`."""
    ws = api_workspace(request, workspace, Perm.MANAGE_ANALYTICS)
    goal = _goal(ws, goal_id)
    if not goal.archived:
        analytics_services.archive_goal(goal=goal, actor=api_user(request))
    return Status(204, None)


def _report_out(report: Report) -> dict[str, Any]:
    return {
        "id": report.pk,
        "period": report.period,
        "start": report.start,
        "end": report.end,
        "language": report.language,
        "generated_at": report.generated_at,
        "sent_at": report.sent_at,
    }


def _report(ws: Workspace, report_id: int) -> Report:
    report = Report.objects.select_related("workspace").filter(workspace=ws, pk=report_id).first()
    if report is None:
        raise Http404
    return report


@router.get("/reports", response={200: list[ReportOut], **ERRORS}, summary="List reports")
def list_reports(request: Any, workspace: WorkspaceParam = None) -> list[ReportOut]:
    """The 100 most recent reports, newest first."""
    ws = api_workspace(request, workspace, Perm.VIEW_ANALYTICS)
    return [ReportOut(**_report_out(r)) for r in Report.objects.filter(workspace=ws).order_by("-generated_at")[:100]]


@router.get("/reports/{report_id}", response={200: ReportDetailOut, **ERRORS}, summary="A report's snapshot")
def get_report(request: Any, report_id: int, workspace: WorkspaceParam = None) -> ReportDetailOut:
    ws = api_workspace(request, workspace, Perm.VIEW_ANALYTICS)
    report = _report(ws, report_id)
    return ReportDetailOut(**_report_out(report), data=report.data)


@router.get("/reports/{report_id}/pdf", response={200: None, **ERRORS}, summary="Download a report as PDF")
def report_pdf(request: Any, report_id: int, workspace: WorkspaceParam = None) -> HttpResponse:
    ws = api_workspace(request, workspace, Perm.VIEW_ANALYTICS)
    return report_pdf_response(_report(ws, report_id))
