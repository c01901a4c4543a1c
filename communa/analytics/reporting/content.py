"""The company report's content: headline numbers vs goals, what changed and why, charts — as a JSON snapshot.

Everything a report shows is computed here once and stored on the Report row; rendering (page, email, PDF,
share link) reads only the snapshot. Strings are rendered in the report's language when it is generated.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from communa.accounts.models import Workspace
from communa.analytics import dashboards, selectors
from communa.analytics.charts import Chart, Series, day_label, format_value
from communa.analytics.forms import Scope
from communa.analytics.models import AnswerFact
from communa.analytics.reporting.models import Period
from communa.analytics.selectors import DateRange
from communa.stream.models import Message

HEADLINES = (
    "mau",
    "members_new",
    "messages",
    "peer_answer_ratio",
    "peer_reply_share",
    "first_response_median",
    "response_rate",
    "sentiment_negative",
    "toxic_messages",
)
CHARTS = (
    dashboards.ChartSpec("messages", ("messages",)),
    dashboards.ChartSpec("dau", ("dau",)),
    dashboards.ChartSpec("peer_answer_ratio", ("peer_answer_ratio",)),
    dashboards.ChartSpec("sentiment", ("sentiment_positive", "sentiment_negative"), title=lambda: _("Sentiment")),
)
UNANSWERED_SHOWN = 5
EXCERPT = 220


def chart_to_json(chart: Chart) -> dict[str, Any]:
    """A chart without its drill-down links: a snapshot (and a share link) must not point into the workspace."""
    return {
        "key": chart.key,
        "title": chart.title,
        "kind": chart.kind,
        "labels": list(chart.labels),
        "keys": list(chart.keys),
        "unit": chart.unit,
        "definition": chart.definition,
        "empty_reason": chart.empty_reason,
        "series": [{"name": s.name, "values": list(s.values), "previous": s.previous} for s in chart.series],
    }


def chart_from_json(data: dict[str, Any]) -> Chart:
    return Chart(
        key=data["key"],
        title=data["title"],
        kind=data["kind"],
        labels=data["labels"],
        keys=data.get("keys", []),
        unit=data["unit"],
        definition=data.get("definition", ""),
        empty_reason=data.get("empty_reason", ""),
        series=[Series(name=s["name"], values=s["values"], previous=s.get("previous", False)) for s in data["series"]],
    )


def build_report_data(*, workspace: Workspace, period: str, start: date, end: date) -> dict[str, Any]:
    rng = DateRange(start, end)
    scope = Scope(range=rng, preset="custom", compare=True)
    available = dashboards.Availability(workspace)
    period_label = _("Weekly report") if period == Period.WEEKLY else _("Monthly report")
    span = f"{day_label(start)} – {day_label(end)} {end.year}"
    return {
        "version": 1,
        "workspace": workspace.name,
        "title": f"{workspace.name}: {period_label.lower()}",
        "period_label": period_label,
        "span": span,
        "subject": _("%(workspace)s community report, %(span)s") % {"workspace": workspace.name, "span": span},
        "headlines": [t.as_dict() for t in dashboards.tiles(workspace, scope, HEADLINES, available)],
        "goals": _goals(workspace),
        "anomalies": _anomalies(workspace, scope),
        "topics": _topics(workspace, rng),
        "sentiment": _sentiment(workspace, scope, available),
        "members": _members(workspace, rng),
        "unanswered": _unanswered(workspace, rng, available),
        "charts": [chart_to_json(dashboards.chart_for(workspace, scope, spec, available)) for spec in CHARTS],
    }


def _goals(workspace: Workspace) -> list[dict[str, Any]]:
    return [
        {
            "name": card.goal.name,
            "metric": str(card.metric.label) if card.metric else card.goal.metric,
            "status": card.goal.status,
            "status_label": str(card.goal.get_status_display()),
            "current": card.current,
            "target": card.target,
            "comparison": str(card.goal.get_comparison_display()),
            "forecast": card.forecast,
            "progress_pct": card.progress_pct,
            "deadline": card.goal.deadline.isoformat(),
            "deadline_label": f"{day_label(card.goal.deadline)} {card.goal.deadline.year}",
        }
        for card in dashboards.goal_cards(workspace)
    ]


def _anomalies(workspace: Workspace, scope: Scope) -> list[dict[str, Any]]:
    return [
        {"title": c.title, "ratio": c.ratio, "topics": c.topics, "sources": [s for s in c.sources if s]}
        for c in dashboards.anomaly_callouts(workspace, scope)
    ]


def _topics(workspace: Workspace, rng: DateRange) -> list[dict[str, Any]]:
    """This period's top keywords with their count in the previous period: what people talk about more."""
    now = selectors.top_topics(workspace, rng, limit=10)
    before = {t.key: t.value for t in selectors.top_topics(workspace, rng.previous(), limit=50)}
    rows = []
    for topic in now:
        previous = before.get(topic.key, 0.0)
        rows.append(
            {
                "term": topic.label,
                "messages": int(topic.value),
                "previous": int(previous),
                "new": previous == 0,
                "change": format_value((topic.value - previous) / previous, "percent") if previous else "",
            }
        )
    return rows


def _sentiment(workspace: Workspace, scope: Scope, available: dashboards.Availability) -> dict[str, Any]:
    if available.reason("sentiment_negative"):
        return {"empty_reason": available.reason("sentiment_negative")}
    positive = selectors.compare(workspace, "sentiment_positive", scope.range)
    negative = selectors.compare(workspace, "sentiment_negative", scope.range)
    sentence = _("Positive messages: %(pos)s (before: %(pos_before)s); negative: %(neg)s (before: %(neg_before)s).") % {
        "pos": format_value(positive.current, "percent"),
        "pos_before": format_value(positive.previous, "percent"),
        "neg": format_value(negative.current, "percent"),
        "neg_before": format_value(negative.previous, "percent"),
    }
    return {"sentence": sentence, "negative_change": negative.delta, "positive_change": positive.delta}


def _members(workspace: Workspace, rng: DateRange) -> dict[str, Any]:
    def rows(by: str) -> list[dict[str, Any]]:
        return [
            {"name": r.label, "value": int(r.value)} for r in selectors.top_contributors(workspace, rng, by=by, limit=5)
        ]

    return {"contributors": rows("messages"), "helpers": rows("peer_replies")}


def _unanswered(workspace: Workspace, rng: DateRange, available: dashboards.Availability) -> dict[str, Any]:
    """Questions from members in the period with no recorded answer: the count and a few of them."""
    if available.reason("questions"):
        return {"empty_reason": available.reason("questions")}
    question_ids = selectors.drill_message_ids(workspace, "questions", rng)
    answered = AnswerFact.objects.filter(workspace=workspace, message_id=OuterRef("pk"))
    open_questions = (
        Message.objects.filter(workspace=workspace, pk__in=question_ids)
        .exclude(Exists(answered))
        .exclude(replies__isnull=False)
        .order_by("-created_at", "-id")
    )
    shown = list(open_questions.select_related("source")[:UNANSWERED_SHOWN])
    return {
        "count": open_questions.count(),
        "examples": [
            {
                "text": (m.text[:EXCERPT] + "…") if len(m.text) > EXCERPT else m.text,
                "source": m.source.name,
                "day": day_label(m.created_at.date()),
            }
            for m in shown
        ],
    }
