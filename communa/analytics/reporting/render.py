"""A report snapshot as a web page, an HTML email, plain text and a PDF (weasyprint).

The same template body serves all of them; charts are inline SVG (pygal, print colours for the email and
the PDF), each followed by its data table so an email client that drops SVG still shows the numbers.
"""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import translation

from communa.analytics.charts import chart_rows, render_svg
from communa.analytics.reporting.content import chart_from_json
from communa.analytics.reporting.models import Report


def report_context(report: Report, *, medium: Literal["web", "print"]) -> dict[str, Any]:
    data = report.data
    charts = []
    for raw in data.get("charts", []):
        chart = chart_from_json(raw)
        charts.append({"chart": chart, "svg": render_svg(chart, medium=medium), "rows": chart_rows(chart)})
    return {"report": report, "data": data, "charts": charts, "medium": medium}


def report_email_html(report: Report) -> str:
    from communa.analytics.reporting.services import report_url

    with translation.override(report.language):
        context = report_context(report, medium="print")
        context["report_url"] = report_url(report)
        return render_to_string("analytics/report_email.html", context)


def report_text(report: Report) -> str:
    from communa.analytics.reporting.services import report_url

    with translation.override(report.language):
        context = report_context(report, medium="print")
        context["report_url"] = report_url(report)
        return render_to_string("analytics/report_email.txt", context)


def report_pdf(report: Report) -> bytes:
    import weasyprint  # loaded on first use: pango and fonts are only needed when a PDF is made

    with translation.override(report.language):
        html = render_to_string("analytics/report_pdf.html", report_context(report, medium="print"))
    pdf: bytes = weasyprint.HTML(string=html, base_url=None).write_pdf()
    return pdf


def report_pdf_response(report: Report) -> HttpResponse:
    response = HttpResponse(report_pdf(report), content_type="application/pdf")
    name = f"{report.workspace.slug}-{report.period}-{report.start:%Y-%m-%d}.pdf"
    response["Content-Disposition"] = f'inline; filename="{name}"'
    return response
