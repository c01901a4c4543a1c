"""Company reports: the snapshot's numbers, the HTML email (locmem), the PDF and its pages, schedules, share links."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core import mail, signing
from django.test import Client
from django.utils import timezone

from communa.accounts.models import User, Workspace
from communa.analytics import rollups
from communa.analytics.models import Goal
from communa.analytics.reporting import services, tasks
from communa.analytics.reporting.models import Report, ReportSchedule, ShareLink
from communa.analytics.reporting.render import report_pdf
from communa.analytics.reporting.tasks import send_due_reports, send_scheduled_report_task
from communa.audit.models import AuditEntry
from communa.connectors.models import Source
from tests.analytics.conftest import d, ingest, item, member, signal
from tests.conftest import login

pytestmark = pytest.mark.django_db

WEEK = (date(2026, 3, 2), date(2026, 3, 8))  # Monday to Sunday


def community(workspace: Workspace, source: Source) -> None:
    """The week of Mar 2: four messages by three members, a staff reply, one unanswered question."""
    ids = ingest(
        source,
        [
            item("a", "ana", d(2, 9), text="The grinder broke again"),
            item("b", "bob", d(2, 10), parent="a"),
            item("s", "sam", d(2, 11), parent="b"),
            item("e", "ana", d(3, 9), parent="b"),
            item("q", "carl", d(3, 10), text="How do I descale the =machine?"),
        ],
    )
    sam = member(workspace, "sam")
    sam.is_staff = True
    sam.save()
    signal(source, "a", sentiment="negative", is_toxic=True)
    signal(source, "b", sentiment="positive")
    signal(source, "q", sentiment="neutral", is_question=True)
    rollups.apply_batch(workspace=workspace, message_ids=ids)
    rollups.refresh_dirty(workspace=workspace)


@pytest.fixture
def report(workspace: Workspace, fake_source: Source, owner: User) -> Report:
    community(workspace, fake_source)
    Goal.objects.create(
        workspace=workspace,
        name="Peer replies 40%",
        metric="peer_reply_share",
        comparison="gte",
        target=0.4,
        start=date(2026, 3, 1),
        deadline=date(2026, 6, 1),
        current=1.0,
        forecast=0.9,
        progress=1.0,
        status="on_track",
    )
    return services.generate_report(
        workspace=workspace, period="weekly", start=WEEK[0], end=WEEK[1], language="en", actor=owner
    )


def test_snapshot_has_exact_headlines_goals_and_what_changed(report: Report) -> None:
    data = report.data
    headlines = {h["key"]: h for h in data["headlines"]}
    assert headlines["messages"]["value"] == 4.0
    assert headlines["messages"]["display"] == "4"
    assert headlines["mau"]["value"] == 3.0
    assert headlines["peer_reply_share"]["display"] == "100%"
    assert headlines["first_response_median"]["empty_reason"].startswith("No inbox conversations yet")
    assert data["goals"] == [
        {
            "name": "Peer replies 40%",
            "metric": "Member-to-member replies",
            "status": "on_track",
            "status_label": "On track",
            "current": "100%",
            "target": "40%",
            "comparison": "at least",
            "forecast": "90%",
            "progress_pct": 100,
            "deadline": "2026-06-01",
            "deadline_label": "Jun 1 2026",
        }
    ]
    assert data["members"]["contributors"][0] == {"name": "Ana", "value": 2}
    assert data["unanswered"]["count"] == 1
    assert data["unanswered"]["examples"][0]["text"] == "How do I descale the =machine?"
    assert data["span"] == "Mar 2 – Mar 8 2026"
    assert [c["key"] for c in data["charts"]] == ["messages", "dau", "peer_answer_ratio", "sentiment"]
    messages_chart = data["charts"][0]
    assert messages_chart["series"][0]["values"] == [2.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert "links" not in messages_chart["series"][0]  # a snapshot never points into the workspace


def test_email_html_text_and_pdf_with_locmem_backend(report: Report) -> None:
    sent = services.send_report(report=report, recipients=["boss@example.org", "Boss@example.org", "cfo@example.org"])
    assert sent == 1
    (message,) = mail.outbox
    assert message.to == ["boss@example.org", "cfo@example.org"]
    assert message.subject == "Acme Community community report, Mar 2 – Mar 8 2026"
    assert "- Messages: 4" in message.body
    assert "Peer replies 40%: On track — 100% / at least 40%" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "Headline numbers" in html
    assert "What changed and why" in html
    assert "<svg" in html
    assert "<table>" in html
    assert "How do I descale the =machine?" in html
    (name, pdf, kind) = message.attachments[0]
    assert (name, kind) == ("acme-weekly-2026-03-02.pdf", "application/pdf")
    assert pdf.startswith(b"%PDF-")
    report.refresh_from_db()
    assert report.sent_to == ["boss@example.org", "cfo@example.org"]
    assert report.sent_at is not None


def test_pdf_pages_render(report: Report, tmp_path: Path) -> None:
    """The PDF turned into pictures, as a person sees it: A4 pages, the first one with the headline table."""
    (tmp_path / "report.pdf").write_bytes(report_pdf(report))
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (poppler-utils) is not installed: scripts/install-test-deps.sh installs it")
    subprocess.run(["pdftoppm", "-png", "-r", "30", "report.pdf", "page"], cwd=tmp_path, check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert 2 <= len(pages) <= 4
    info = subprocess.run(["pdfinfo", "report.pdf"], cwd=tmp_path, check=True, capture_output=True, text=True)
    assert "pts (A4)" in info.stdout


def test_report_pages_for_members_only(
    client: Client, analyst: User, volunteer: User, outsider: User, report: Report
) -> None:
    assert login(client, analyst).get(f"/w/acme/analytics/reports/{report.pk}/").status_code == 200
    response = client.get(f"/w/acme/analytics/reports/{report.pk}/pdf/")
    assert response["Content-Type"] == "application/pdf"
    assert login(Client(), volunteer).get(f"/w/acme/analytics/reports/{report.pk}/").status_code == 403
    assert login(Client(), outsider).get(f"/w/rival/analytics/reports/{report.pk}/").status_code == 404


def test_generate_from_the_page(client: Client, analyst: User, workspace: Workspace) -> None:
    response = login(client, analyst).post(
        "/w/acme/analytics/reports/generate/", {"period": "monthly", "language": "it"}
    )
    report = Report.objects.get(workspace=workspace)
    assert response["Location"] == f"/w/acme/analytics/reports/{report.pk}/"
    today = timezone.now().date()
    assert report.end == today.replace(day=1) - timedelta(days=1)
    assert report.data["period_label"] == "Report mensile"


# Share links


def test_share_link_opens_without_login_and_shows_only_the_report(
    client: Client, manager: User, report: Report
) -> None:
    login(client, manager).post(f"/w/acme/analytics/reports/{report.pk}/share/", {"days": "7"})
    link = ShareLink.objects.get(report=report)
    assert link.expires_at - timezone.now() > timedelta(days=6, hours=23)
    url = services.share_url(link).removeprefix("http://127.0.0.1:8000")
    response = Client().get(url)
    assert response.status_code == 200
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    page = response.content.decode()
    assert "Headline numbers" in page
    assert "/w/acme/" not in page  # no way into the workspace from a shared report
    assert Client().get(url + "pdf/")["Content-Type"] == "application/pdf"
    link.refresh_from_db()
    assert link.views == 2
    assert AuditEntry.objects.filter(action="analytics.share_link.created").count() == 1


def test_revoked_expired_and_forged_links_are_404(client: Client, manager: User, report: Report) -> None:
    link = services.create_share_link(report=report, actor=manager, days=14)
    token = services.share_token(link)
    assert Client().get(f"/shared/reports/{token}/").status_code == 200
    forged = signing.dumps({"l": link.pk, "n": "guess"}, salt=services.SHARE_SALT, compress=True)
    assert Client().get(f"/shared/reports/{forged}/").status_code == 404
    assert Client().get(f"/shared/reports/{token[:-2]}xx/").status_code == 404
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(f"/shared/reports/{token}/").status_code == 404
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() + timedelta(days=1))
    assert login(client, manager).post(f"/w/acme/analytics/reports/shares/{link.pk}/revoke/").status_code == 302
    assert Client().get(f"/shared/reports/{token}/").status_code == 404
    assert Client().get(f"/shared/reports/{token}/pdf/").status_code == 404


def test_analysts_cannot_share_and_outsiders_cannot_revoke(
    client: Client, analyst: User, outsider: User, manager: User, report: Report
) -> None:
    assert login(client, analyst).post(f"/w/acme/analytics/reports/{report.pk}/share/").status_code == 403
    assert not ShareLink.objects.exists()
    link = services.create_share_link(report=report, actor=manager)
    assert login(Client(), outsider).post(f"/w/rival/analytics/reports/shares/{link.pk}/revoke/").status_code == 404
    assert login(Client(), outsider).post(f"/w/rival/analytics/reports/{report.pk}/share/").status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None


# Schedules


def test_next_run_is_monday_or_the_first_at_the_local_hour(workspace: Workspace) -> None:
    weekly = ReportSchedule(workspace=workspace, period="weekly", hour=8, time_zone="Europe/Rome")
    assert services.next_run(weekly, after=datetime(2026, 3, 4, 12, tzinfo=UTC)) == datetime(2026, 3, 9, 7, tzinfo=UTC)
    monthly = ReportSchedule(workspace=workspace, period="monthly", hour=8, time_zone="Europe/Rome")
    assert services.next_run(monthly, after=datetime(2026, 3, 4, 12, tzinfo=UTC)) == datetime(2026, 4, 1, 6, tzinfo=UTC)
    assert services.last_full_period("weekly", today=date(2026, 3, 9)) == WEEK
    assert services.last_full_period("monthly", today=date(2026, 3, 9)) == (date(2026, 2, 1), date(2026, 2, 28))


def test_schedule_form_by_a_manager(client: Client, manager: User, analyst: User, workspace: Workspace) -> None:
    form = {
        "name": "Weekly for the board",
        "period": "weekly",
        "recipients": "board@example.org\ncfo@example.org, board@example.org",
        "time_zone": "Europe/Rome",
        "hour": "8",
        "language": "it",
        "enabled": "on",
    }
    assert login(Client(), analyst).post("/w/acme/analytics/reports/schedules/new/", form).status_code == 403
    assert not ReportSchedule.objects.exists()
    bad = login(client, manager).post(
        "/w/acme/analytics/reports/schedules/new/", {**form, "recipients": "not-an-address"}
    )
    assert "is not an email address" in bad.content.decode()
    assert client.post("/w/acme/analytics/reports/schedules/new/", form).status_code == 302
    schedule = ReportSchedule.objects.get(workspace=workspace)
    assert schedule.recipients == ["board@example.org", "cfo@example.org"]
    assert schedule.next_run_at is not None
    assert schedule.next_run_at.astimezone(services.zone("Europe/Rome")).hour == 8


def test_scheduled_report_is_sent_once_per_period(workspace: Workspace, fake_source: Source, owner: User) -> None:
    community(workspace, fake_source)
    schedule = services.create_schedule(
        workspace=workspace,
        actor=owner,
        name="Weekly",
        period="weekly",
        recipients=["team@example.org"],
        time_zone="UTC",
        hour=8,
        language="en",
    )
    monday = datetime(2026, 3, 9, 8, 5, tzinfo=UTC)
    ReportSchedule.objects.filter(pk=schedule.pk).update(next_run_at=monday - timedelta(minutes=5))
    assert services.claim_due_schedules(now=monday) == [schedule.pk]
    assert services.claim_due_schedules(now=monday) == []  # claimed: the next run is next Monday
    first = services.run_schedule(schedule_id=schedule.pk, now=monday)
    again = services.run_schedule(schedule_id=schedule.pk, now=monday)
    assert first is not None
    assert again is not None
    assert first.pk == again.pk
    assert (first.start, first.end) == WEEK
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["team@example.org"]
    schedule.refresh_from_db()
    assert schedule.next_run_at == datetime(2026, 3, 16, 8, tzinfo=UTC)
    assert schedule.last_error == ""


def test_periodic_job_enqueues_due_schedules(
    workspace: Workspace, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    enqueued: list[int] = []
    monkeypatch.setattr(tasks, "send_scheduled_report_task", SimpleNamespace(enqueue=enqueued.append))
    schedule = services.create_schedule(
        workspace=workspace,
        actor=owner,
        name="Weekly",
        period="weekly",
        recipients=["team@example.org"],
        time_zone="UTC",
        hour=8,
        language="en",
    )
    assert send_due_reports() == 0
    ReportSchedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() - timedelta(minutes=1))
    assert send_due_reports() == 1
    assert enqueued == [schedule.pk]
    send_scheduled_report_task.func(schedule.pk)
    send_scheduled_report_task.func(schedule.pk)
    assert Report.objects.filter(schedule=schedule).count() == 1
    assert len(mail.outbox) == 1
