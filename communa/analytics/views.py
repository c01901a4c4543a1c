"""Analytics pages: dashboards, drill-downs, CSV, goals, reports and their share links.

Thin: each view checks access (VIEW_ANALYTICS to read; MANAGE_ANALYTICS to change goals, schedules and share
links), reads the scope from the query string and hands over to `dashboards`, the goal functions or
`reporting.services`. A share link is the only page served without a login: it shows one report snapshot.
"""

from __future__ import annotations

import io
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from communa.accounts.access import access_membership, access_workspace
from communa.accounts.models import Workspace
from communa.accounts.roles import Perm, role_has
from communa.analytics import dashboards, selectors
from communa.analytics import services as analytics_services
from communa.analytics.charts import chart_rows, render_svg, write_csv
from communa.analytics.forms import (
    PRESET_LABELS,
    GenerateReportForm,
    GoalForm,
    ScheduleForm,
    Scope,
    ScopeForm,
    ShareForm,
)
from communa.analytics.models import Goal, Notice
from communa.analytics.reporting import services as reporting
from communa.analytics.reporting.models import Report, ReportSchedule, ShareLink
from communa.analytics.reporting.render import report_context, report_pdf_response
from communa.analytics.reporting.services import zone

AREA_URLS = ("overview", "community", "conversations", "sentiment", "topics")


def _render(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """Render an analytics page: every one shows the analytics tabs."""
    context.setdefault("areas", [(key, dashboards.PAGES[key].title()) for key in AREA_URLS])
    return render(request, template, context)


def _today(workspace: Workspace) -> Any:
    return timezone.now().astimezone(zone(workspace.time_zone)).date()


def _scope(request: HttpRequest, workspace: Workspace) -> tuple[Scope, ScopeForm]:
    choices = dashboards.filter_choices(workspace)
    form = ScopeForm(request.GET, **choices)
    return form.scope(today=_today(workspace)), form


def _page_context(request: HttpRequest, workspace: Workspace, page: str) -> dict[str, Any]:
    scope, form = _scope(request, workspace)
    board = dashboards.dashboard(workspace, scope, page)
    charts = [{"chart": c, "svg": render_svg(c), "rows": chart_rows(c)} for c in board.charts]
    query = scope.query()
    return {
        "workspace": workspace,
        "page": board.page,
        "board": board,
        "charts": charts,
        "scope": scope,
        "form": form,
        "query": query.urlencode(),
        "presets": [
            (key, label, scope.query(range=key, since=None, until=None).urlencode())
            for key, label in PRESET_LABELS.items()
        ],
        "can_manage": role_has(dashboards.role_of(request.user, workspace), Perm.MANAGE_ANALYTICS),
        "segment_status": selectors.segment_status(workspace, scope.segment),
    }


@login_required
@require_GET
def overview(request: HttpRequest, workspace: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.VIEW_ANALYTICS)
    context = _page_context(request, ws, "overview")
    context["goals"] = dashboards.goal_cards(ws)
    context["anomalies"] = dashboards.anomaly_callouts(ws, context["scope"])
    return _render(request, "analytics/dashboard.html", context)


@login_required
@require_GET
def area(request: HttpRequest, workspace: str, page: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.VIEW_ANALYTICS)
    context = _page_context(request, ws, page)
    context.update(dashboards.extras(ws, context["scope"], page))
    return _render(request, "analytics/dashboard.html", context)


@login_required
@require_GET
def chart_csv(request: HttpRequest, workspace: str, page: str, chart: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.VIEW_ANALYTICS)
    spec = dashboards.find_chart(page, chart)
    if spec is None:
        raise Http404
    scope, _form = _scope(request, ws)
    built = dashboards.chart_for(ws, scope, spec)
    handle = io.StringIO()
    write_csv(built, handle)
    response = HttpResponse(handle.getvalue(), content_type="text/csv; charset=utf-8")
    filename = f"{ws.slug}-{chart}-{scope.range.start:%Y%m%d}-{scope.range.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def drill(request: HttpRequest, workspace: str) -> HttpResponse:
    """The messages (on the stream page) or members (listed here) behind a point of a chart."""
    ws = access_workspace(request.user, workspace, Perm.VIEW_ANALYTICS)
    scope, _form = _scope(request, ws)
    metric = request.GET.get("metric", "")
    target = dashboards.drill_target(ws, metric, scope)
    if target is None:
        raise Http404
    if target.url:
        return HttpResponseRedirect(target.url)
    return _render(
        request,
        "analytics/drill_members.html",
        {"workspace": ws, "target": target, "scope": scope, "query": scope.query().urlencode()},
    )


# Goals


@login_required
@require_GET
def goals(request: HttpRequest, workspace: str) -> HttpResponse:
    membership = access_membership(request.user, workspace, Perm.VIEW_ANALYTICS)
    ws = membership.workspace
    return _render(
        request,
        "analytics/goals.html",
        {
            "workspace": ws,
            "goals": dashboards.goal_cards(ws, include_archived=request.GET.get("archived") == "1"),
            "showing_archived": request.GET.get("archived") == "1",
            "can_manage": role_has(membership.role, Perm.MANAGE_ANALYTICS),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def goal_edit(request: HttpRequest, workspace: str, goal_id: int | None = None) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_ANALYTICS)
    goal = get_object_or_404(Goal, workspace=ws, pk=goal_id) if goal_id else None
    form = GoalForm(request.POST or None, goal=goal, today=_today(ws))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if goal is None:
                goal = analytics_services.create_goal(
                    workspace=ws,
                    actor=request.user,  # type: ignore[arg-type]
                    name=data["name"],
                    metric=data["metric"],
                    comparison=data["comparison"],
                    target=data["stored_target"],
                    deadline=data["deadline"],
                )
            else:
                goal = analytics_services.update_goal(
                    goal=goal,
                    actor=request.user,  # type: ignore[arg-type]
                    name=data["name"],
                    target=data["stored_target"],
                    deadline=data["deadline"],
                    comparison=data["comparison"],
                )
        except analytics_services.GoalError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Goal “%(name)s” saved.") % {"name": goal.name})
            return redirect("analytics:goals", ws.slug)
    return _render(request, "analytics/goal_form.html", {"workspace": ws, "form": form, "goal": goal})


@login_required
@require_POST
def goal_archive(request: HttpRequest, workspace: str, goal_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_ANALYTICS)
    goal = get_object_or_404(Goal, workspace=ws, pk=goal_id, archived=False)
    analytics_services.archive_goal(goal=goal, actor=request.user)  # type: ignore[arg-type]
    messages.success(request, _("Goal “%(name)s” archived.") % {"name": goal.name})
    return redirect("analytics:goals", ws.slug)


@login_required
@require_POST
def goal_alert_read(request: HttpRequest, workspace: str, notice_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_ANALYTICS)
    notice = get_object_or_404(Notice, workspace=ws, pk=notice_id, kind=Notice.Kind.GOAL_DRIFTED)
    analytics_services.mark_notices_read(workspace=ws, notice_ids=[notice.pk])
    return redirect("analytics:goals", ws.slug)


# Reports


@login_required
@require_GET
def reports(request: HttpRequest, workspace: str) -> HttpResponse:
    membership = access_membership(request.user, workspace, Perm.VIEW_ANALYTICS)
    ws = membership.workspace
    can_manage = role_has(membership.role, Perm.MANAGE_ANALYTICS)
    recent = list(Report.objects.filter(workspace=ws).order_by("-generated_at")[:30])
    links = (
        list(
            ShareLink.objects.filter(workspace=ws, revoked_at=None, expires_at__gt=timezone.now())
            .select_related("report")
            .order_by("-created_at")[:30]
        )
        if can_manage
        else []
    )
    return _render(
        request,
        "analytics/reports.html",
        {
            "workspace": ws,
            "reports": recent,
            "schedules": list(ReportSchedule.objects.filter(workspace=ws).order_by("name")),
            "share_links": [(link, reporting.share_url(link)) for link in links],
            "generate_form": GenerateReportForm(initial={"language": get_language()}),
            "can_manage": can_manage,
        },
    )


@login_required
@require_POST
def report_generate(request: HttpRequest, workspace: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.VIEW_ANALYTICS)
    form = GenerateReportForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a period and a language."))
        return redirect("analytics:reports", ws.slug)
    period = form.cleaned_data["period"]
    start, end = reporting.last_full_period(period, today=_today(ws))
    report = reporting.generate_report(
        workspace=ws,
        period=period,
        start=start,
        end=end,
        language=form.cleaned_data["language"],
        actor=request.user,  # type: ignore[arg-type]
    )
    return redirect("analytics:report", ws.slug, report.pk)


def _report(workspace: Workspace, report_id: int) -> Report:
    return get_object_or_404(Report.objects.select_related("workspace"), workspace=workspace, pk=report_id)


@login_required
@require_GET
def report(request: HttpRequest, workspace: str, report_id: int) -> HttpResponse:
    membership = access_membership(request.user, workspace, Perm.VIEW_ANALYTICS)
    obj = _report(membership.workspace, report_id)
    context = report_context(obj, medium="web")
    context.update(
        {
            "workspace": membership.workspace,
            "share_form": ShareForm(),
            "can_manage": role_has(membership.role, Perm.MANAGE_ANALYTICS),
            "pdf_url": reverse("analytics:report_pdf", args=[workspace, obj.pk]),
        }
    )
    return _render(request, "analytics/report_page.html", context)


@login_required
@require_GET
def report_pdf(request: HttpRequest, workspace: str, report_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.VIEW_ANALYTICS)
    return report_pdf_response(_report(ws, report_id))


@login_required
@require_POST
def share_create(request: HttpRequest, workspace: str, report_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_ANALYTICS)
    obj = _report(ws, report_id)
    form = ShareForm(request.POST)
    days = form.cleaned_data["days"] if form.is_valid() else reporting.SHARE_DAYS_DEFAULT
    link = reporting.create_share_link(report=obj, actor=request.user, days=days)  # type: ignore[arg-type]
    messages.success(
        request,
        _("Share link created; it works until %(date)s: %(url)s")
        % {"date": timezone.localtime(link.expires_at).strftime("%Y-%m-%d %H:%M"), "url": reporting.share_url(link)},
    )
    return redirect("analytics:reports", ws.slug)


@login_required
@require_POST
def share_revoke(request: HttpRequest, workspace: str, link_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_ANALYTICS)
    link = get_object_or_404(ShareLink.objects.select_related("report", "workspace"), workspace=ws, pk=link_id)
    reporting.revoke_share_link(link=link, actor=request.user)  # type: ignore[arg-type]
    messages.success(request, _("Share link revoked: it no longer opens the report."))
    return redirect("analytics:reports", ws.slug)


@login_required
@require_http_methods(["GET", "POST"])
def schedule_edit(request: HttpRequest, workspace: str, schedule_id: int | None = None) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_ANALYTICS)
    schedule = get_object_or_404(ReportSchedule, workspace=ws, pk=schedule_id) if schedule_id else None
    initial = {"time_zone": ws.time_zone, "language": get_language(), "name": _("Weekly community report")}
    form = ScheduleForm(request.POST or None, instance=schedule, initial=None if schedule else initial)
    if request.method == "POST" and form.is_valid():
        fields = {key: form.cleaned_data[key] for key in ScheduleForm.Meta.fields}
        if schedule is None:
            schedule = reporting.create_schedule(workspace=ws, actor=request.user, **fields)  # type: ignore[arg-type]
        else:
            schedule = reporting.update_schedule(schedule=schedule, actor=request.user, **fields)  # type: ignore[arg-type]
        messages.success(request, _("Report schedule “%(name)s” saved.") % {"name": schedule.name})
        return redirect("analytics:reports", ws.slug)
    return _render(request, "analytics/schedule_form.html", {"workspace": ws, "form": form, "schedule": schedule})


@login_required
@require_POST
def schedule_delete(request: HttpRequest, workspace: str, schedule_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_ANALYTICS)
    schedule = get_object_or_404(ReportSchedule, workspace=ws, pk=schedule_id)
    reporting.delete_schedule(schedule=schedule, actor=request.user)  # type: ignore[arg-type]
    messages.success(request, _("Report schedule deleted."))
    return redirect("analytics:reports", ws.slug)


# Share links: no login; a bad, revoked or expired token is a plain 404 (it says nothing about why).


@require_GET
def shared_report(request: HttpRequest, token: str) -> HttpResponse:
    link = reporting.resolve_share(token)
    if link is None:
        raise Http404
    context = report_context(link.report, medium="web")
    context.update(
        {
            "shared": True,
            "expires_at": link.expires_at,
            "pdf_url": reverse("analytics_shared:report_pdf", args=[token]),
        }
    )
    response = render(request, "analytics/report_shared.html", context)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
def shared_report_pdf(request: HttpRequest, token: str) -> HttpResponse:
    link = reporting.resolve_share(token)
    if link is None:
        raise Http404
    response = report_pdf_response(link.report)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
