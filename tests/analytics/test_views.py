"""Analytics pages: access, exact numbers on a small community, "not enough data yet", CSV, drill-down, goals."""

from __future__ import annotations

import csv
import io
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from communa.accounts.models import User, Workspace
from communa.analytics import dashboards, rollups
from communa.analytics.charts import Chart, Series, write_csv
from communa.analytics.forms import Scope
from communa.analytics.models import Anomaly, Goal, Notice
from communa.analytics.selectors import DateRange
from communa.audit.models import AuditEntry
from communa.connectors.models import Source
from tests.analytics.conftest import d, ingest, item, member, signal
from tests.conftest import login

pytestmark = pytest.mark.django_db

RANGE = "range=custom&since=2026-03-02&until=2026-03-03"


def community(workspace: Workspace, source: Source, *, extra_members: int = 0) -> None:
    """Mar 2: ana opens a thread (negative, toxic), bob replies (positive), staff Sam replies to bob.
    Mar 3: ana replies to bob (a member-to-member reply), carl asks a question (neutral)."""
    items = [
        item("a", "ana", d(2, 9), text="The grinder broke again"),
        item("b", "bob", d(2, 10), parent="a"),
        item("s", "sam", d(2, 11), parent="b"),
        item("e", "ana", d(3, 9), parent="b"),
        item("q", "carl", d(3, 10), text="How do I descale it?"),
    ]
    items += [item(f"x{i}", f"extra{i}", d(3, 12, i % 60)) for i in range(extra_members)]
    ids = ingest(source, items)
    sam = member(workspace, "sam")
    sam.is_staff = True
    sam.save()
    signal(source, "a", sentiment="negative", is_toxic=True)
    signal(source, "b", sentiment="positive")
    signal(source, "q", sentiment="neutral", is_question=True)
    rollups.apply_batch(workspace=workspace, message_ids=ids)
    rollups.refresh_dirty(workspace=workspace)


def scope() -> Scope:
    return Scope(range=DateRange(date(2026, 3, 2), date(2026, 3, 3)), preset="custom")


@pytest.fixture
def small(workspace: Workspace, fake_source: Source) -> Source:
    community(workspace, fake_source)
    return fake_source


# Access


PAGES = ["", "community/", "conversations/", "sentiment/", "topics/", "goals/", "reports/"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_opens_for_an_analyst(client: Client, analyst: User, small: Source, path: str) -> None:
    response = login(client, analyst).get(f"/w/acme/analytics/{path}?{RANGE}")
    assert response.status_code == 200


@pytest.mark.parametrize("path", [*PAGES, "goals/new/", "reports/schedules/new/", "csv/overview/messages.csv"])
def test_volunteers_get_403_and_outsiders_404(
    client: Client, volunteer: User, outsider: User, workspace: Workspace, path: str
) -> None:
    assert login(client, volunteer).get(f"/w/acme/analytics/{path}").status_code == 403
    assert login(Client(), outsider).get(f"/w/acme/analytics/{path}").status_code == 404
    assert Client().get(f"/w/acme/analytics/{path}").status_code == 302  # to the sign-in page


def test_nav_links_to_analytics(client: Client, analyst: User, workspace: Workspace) -> None:
    page = login(client, analyst).get("/w/acme/stream/").content.decode()
    assert 'href="/w/acme/analytics/"' in page


# Numbers


def test_tiles_exact_values(workspace: Workspace, small: Source) -> None:
    available = dashboards.Availability(workspace)
    keys = ("messages", "threads", "peer_reply_share", "sentiment_negative", "toxic_messages", "questions", "mau")
    tiles = {t.key: t for t in dashboards.tiles(workspace, scope(), keys, available)}
    assert tiles["messages"].value == 4.0  # ana ×2, bob, carl; Sam is staff
    assert tiles["messages"].previous == 0.0
    assert tiles["messages"].change is None
    assert tiles["threads"].value == 2.0
    assert tiles["peer_reply_share"].value == 1.0  # both members' replies answer a member
    assert tiles["sentiment_negative"].value == pytest.approx(1 / 3)
    assert tiles["sentiment_negative"].display == "33.3%"
    assert tiles["toxic_messages"].value == 1.0
    assert tiles["questions"].value == 1.0
    assert tiles["mau"].value == 3.0


def test_previous_period_delta_and_tone(workspace: Workspace, small: Source) -> None:
    """Mar 4–5 against Mar 2–3: one message against four is −75%, and fewer messages is bad news."""
    ids = ingest(small, [item("late", "ana", d(4, 9))])
    rollups.apply_batch(workspace=workspace, message_ids=ids)
    later = Scope(range=DateRange(date(2026, 3, 4), date(2026, 3, 5)), preset="custom")
    (tile,) = dashboards.tiles(workspace, later, ("messages",), dashboards.Availability(workspace))
    assert (tile.value, tile.previous) == (1.0, 4.0)
    assert tile.change == -0.75
    assert (tile.direction, tile.tone, tile.change_display) == ("down", "bad", "▼ 75%")


def test_missing_data_is_not_enough_data_never_zero(client: Client, analyst: User, small: Source) -> None:
    page = login(client, analyst).get(f"/w/acme/analytics/conversations/?{RANGE}").content.decode()
    tile = page.split('id="kpi-first_response_median"')[1].split("</li>")[0]
    assert "Not enough data yet" in tile
    assert "No inbox conversations yet" in tile
    assert "0 min" not in tile
    chart = page.split('id="chart-response_rate"')[1].split("</section>")[0]
    assert "Not enough data yet" in chart
    assert "<svg" not in chart


def test_overview_shows_numbers_charts_with_tables_and_definitions(
    client: Client, analyst: User, small: Source
) -> None:
    page = login(client, analyst).get(f"/w/acme/analytics/?{RANGE}").content.decode()
    tile = page.split('id="kpi-messages"')[1].split("</li>")[0]
    assert ">4</a>" in tile
    assert "Messages posted by members (staff, bots, spam, reactions, joins and leaves excluded)." in tile
    chart = page.split('id="chart-messages"')[1].split("</section>")[0]
    assert 'role="img"' in chart
    assert "<title" in chart
    assert "<table>" in chart  # the data table under the chart
    assert "Previous period" in chart
    assert "/w/acme/analytics/csv/overview/messages.csv?" in chart


def goals(workspace: Workspace, count: int) -> None:
    Goal.objects.bulk_create(
        [
            Goal(
                workspace=workspace,
                name=f"g{i}",
                metric="messages",
                comparison="gte",
                target=10,
                start=date(2026, 3, 1),
                deadline=date(2026, 4, 1),
            )
            for i in range(count)
        ]
    )


def test_overview_query_count_does_not_grow_with_the_community(
    client: Client, analyst: User, workspace: Workspace, fake_source: Source
) -> None:
    community(workspace, fake_source)
    goals(workspace, 1)
    login(client, analyst)
    url = f"/w/acme/analytics/?{RANGE}"
    client.get(url)
    with CaptureQueriesContext(connection) as small_run:
        assert client.get(url).status_code == 200
    more = ingest(fake_source, [item(f"m{i}", f"newcomer{i}", d(3, 15, i)) for i in range(30)])
    rollups.apply_batch(workspace=workspace, message_ids=more)
    rollups.refresh_dirty(workspace=workspace)
    goals(workspace, 5)
    with CaptureQueriesContext(connection) as big_run:
        assert client.get(url).status_code == 200
    assert len(big_run) == len(small_run)
    assert len(big_run) <= 45


def test_csv_export_exact_and_guarded(client: Client, analyst: User, small: Source) -> None:
    response = login(client, analyst).get(f"/w/acme/analytics/csv/overview/messages.csv?{RANGE}")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="acme-messages-20260302-20260303.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [["Period", "Messages", "Previous period"], ["2026-03-02", "2", "0"], ["2026-03-03", "2", "0"]]
    assert login(client, analyst).get("/w/acme/analytics/csv/overview/nope.csv").status_code == 404


def test_csv_guard_neutralises_formulas() -> None:
    chart = Chart(
        key="t", title="Topics", kind="hbar", labels=["=HYPERLINK(1)", "+cmd", "ok"], series=[Series("@x", [1, 2, 3])]
    )
    handle = io.StringIO()
    write_csv(chart, handle)
    assert list(csv.reader(io.StringIO(handle.getvalue()))) == [
        ["Item", "'@x"],
        ["'=HYPERLINK(1)", "1"],
        ["'+cmd", "2"],
        ["ok", "3"],
    ]


# Drill-down


def test_drill_from_a_point_lands_on_the_messages_in_the_stream(client: Client, analyst: User, small: Source) -> None:
    response = login(client, analyst).get(
        f"/w/acme/analytics/drill/?range=custom&since=2026-03-02&until=2026-03-02&metric=sentiment_negative&source={small.pk}"
    )
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert url.path == "/w/acme/stream/"
    assert parse_qs(url.query) == {
        "since": ["2026-03-02"],
        "until": ["2026-03-02"],
        "source": [str(small.pk)],
        "sentiment": ["negative"],
    }
    stream = client.get(response["Location"]).content.decode()
    assert "The grinder broke again" in stream


def test_drill_into_a_member_metric_lists_the_members(client: Client, analyst: User, small: Source) -> None:
    page = login(client, analyst).get(f"/w/acme/analytics/drill/?{RANGE}&metric=members_new").content.decode()
    for name in ("Ana", "Bob", "Carl"):
        assert f">{name}</a>" in page
    assert ">Sam</a>" not in page  # staff are not members of the community's numbers


def test_chart_points_link_to_their_drill_down(workspace: Workspace, small: Source) -> None:
    spec = dashboards.find_chart("overview", "messages")
    assert spec is not None
    chart = dashboards.chart_for(workspace, scope(), spec)
    assert chart.series[0].values == [2.0, 2.0]
    assert chart.series[0].links[0] == (
        "/w/acme/analytics/drill/?range=custom&since=2026-03-02&until=2026-03-02&metric=messages"
    )
    assert chart.series[1].previous
    assert chart.series[1].links == ()


def test_unknown_metric_drill_is_404(client: Client, analyst: User, workspace: Workspace) -> None:
    assert login(client, analyst).get("/w/acme/analytics/drill/?metric=nope").status_code == 404


# Anomalies


def test_anomaly_callout_with_its_explanation(
    client: Client, analyst: User, workspace: Workspace, small: Source
) -> None:
    Anomaly.objects.create(
        workspace=workspace,
        metric="volume",
        kind="spike",
        start=d(3, 14),
        end=d(3, 15),
        observed=40,
        expected=4,
        spread=2,
        score=18,
        explanation={
            "topics": [{"term": "descale", "messages": 12}],
            "sources": [{"source_id": small.pk, "messages": 40}],
        },
        detected_at=d(3, 15),
    )
    page = login(client, analyst).get(f"/w/acme/analytics/?{RANGE}").content.decode()
    callout = page.split('class="anomaly anomaly-spike"')[1].split("</li>")[0]
    assert "Spike in message volume on Mar 3, 14:00" in callout
    assert "40 vs 4 expected" in callout
    assert '<span class="chip">descale</span>' in callout
    assert "Fake room" in callout
    assert "/w/acme/stream/?since=2026-03-03&amp;until=2026-03-03" in callout


# Goals


GOAL_FORM = {
    "name": "Peer answers 40%",
    "metric": "peer_reply_share",
    "comparison": "gte",
    "target": "40",
    "deadline": "2026-12-31",
}


def test_manager_creates_edits_and_archives_a_goal(client: Client, manager: User, workspace: Workspace) -> None:
    login(client, manager)
    assert client.post("/w/acme/analytics/goals/new/", GOAL_FORM).status_code == 302
    goal = Goal.objects.get(workspace=workspace)
    assert (goal.name, goal.metric, goal.comparison, goal.target) == (
        "Peer answers 40%",
        "peer_reply_share",
        "gte",
        0.4,
    )
    edit = {**GOAL_FORM, "target": "45", "metric": "messages"}  # the metric of a goal cannot change
    assert client.post(f"/w/acme/analytics/goals/{goal.pk}/edit/", edit).status_code == 302
    goal.refresh_from_db()
    assert (goal.metric, goal.target) == ("peer_reply_share", 0.45)
    assert client.post(f"/w/acme/analytics/goals/{goal.pk}/archive/").status_code == 302
    goal.refresh_from_db()
    assert goal.archived
    assert AuditEntry.objects.filter(workspace=workspace, action__startswith="analytics.goal").count() == 3


def test_goal_form_converts_units_and_rejects_bad_targets(client: Client, manager: User, workspace: Workspace) -> None:
    login(client, manager)
    hours = {
        **GOAL_FORM,
        "name": "First response under 2 h",
        "metric": "first_response_median",
        "comparison": "lte",
        "target": "2",
    }
    assert client.post("/w/acme/analytics/goals/new/", hours).status_code == 302
    assert Goal.objects.get(workspace=workspace, metric="first_response_median").target == 7200
    page = client.post("/w/acme/analytics/goals/new/", {**GOAL_FORM, "target": "140"}).content.decode()
    assert "Enter a percentage between 0 and 100." in page
    page = client.post("/w/acme/analytics/goals/new/", {**GOAL_FORM, "deadline": "2020-01-01"}).content.decode()
    assert "Choose a deadline after" in page
    assert Goal.objects.filter(workspace=workspace).count() == 1


def test_analysts_read_goals_but_cannot_change_them(
    client: Client, analyst: User, manager: User, workspace: Workspace
) -> None:
    login(client, manager).post("/w/acme/analytics/goals/new/", GOAL_FORM)
    goal = Goal.objects.get(workspace=workspace)
    analyst_client = login(Client(), analyst)
    page = analyst_client.get("/w/acme/analytics/goals/").content.decode()
    assert "Peer answers 40%" in page
    assert "/goals/new/" not in page
    assert analyst_client.post("/w/acme/analytics/goals/new/", GOAL_FORM).status_code == 403
    assert analyst_client.post(f"/w/acme/analytics/goals/{goal.pk}/archive/").status_code == 403
    assert Goal.objects.filter(workspace=workspace).count() == 1
    assert not Goal.objects.get(pk=goal.pk).archived


def test_another_workspaces_goal_is_404(client: Client, outsider: User, manager: User, workspace: Workspace) -> None:
    login(client, manager).post("/w/acme/analytics/goals/new/", GOAL_FORM)
    goal = Goal.objects.get(workspace=workspace)
    rival = login(Client(), outsider)
    assert rival.get(f"/w/rival/analytics/goals/{goal.pk}/edit/").status_code == 404
    assert rival.post(f"/w/rival/analytics/goals/{goal.pk}/archive/").status_code == 404
    assert not Goal.objects.get(pk=goal.pk).archived


def test_goal_progress_on_the_overview(client: Client, analyst: User, workspace: Workspace) -> None:
    Goal.objects.create(
        workspace=workspace,
        name="Answer faster",
        metric="first_response_median",
        comparison="lte",
        target=7200,
        start=date(2026, 3, 1),
        deadline=date(2026, 12, 1),
        current=10800,
        forecast=9000,
        progress=0.4,
        status="off_track",
    )
    page = login(client, analyst).get("/w/acme/analytics/").content.decode()
    goal = page.split('class="goal"')[1].split("</li>")[0]
    assert "Answer faster" in goal
    assert "Off track" in goal
    assert 'aria-valuenow="40"' in goal
    assert "now 3.0 h, target at most 2.0 h by" in goal
    assert "forecast at the deadline: 2.5 h" in goal


def test_pages_are_translated(client: Client, analyst: User, small: Source) -> None:
    analyst.language = "it"
    analyst.save()
    page = login(client, analyst).get(f"/w/acme/analytics/?{RANGE}").content.decode()
    assert "Non ci sono ancora abbastanza dati" in page
    assert "Periodo precedente" in page


def test_goal_drift_alert_shown_and_dismissed(
    client: Client, manager: User, analyst: User, workspace: Workspace
) -> None:
    goal = Goal.objects.create(
        workspace=workspace,
        name="Answer faster",
        metric="first_response_median",
        comparison="lte",
        target=7200,
        start=date(2026, 3, 1),
        deadline=date(2026, 12, 1),
        status="off_track",
    )
    notice = Notice.objects.create(
        workspace=workspace,
        kind=Notice.Kind.GOAL_DRIFTED,
        goal=goal,
        data={"status": "off_track", "previous_status": "on_track"},
        created_at=d(5),
    )
    page = login(client, analyst).get("/w/acme/analytics/goals/").content.decode()
    assert "Drifted from On track to Off track on March 5, 2026." in page
    assert f"/goals/alerts/{notice.pk}/read/" not in page  # analysts see it, managers dismiss it
    assert client.post(f"/w/acme/analytics/goals/alerts/{notice.pk}/read/").status_code == 403
    manager_client = login(Client(), manager)
    assert manager_client.post(f"/w/acme/analytics/goals/alerts/{notice.pk}/read/").status_code == 302
    assert "Drifted from" not in manager_client.get("/w/acme/analytics/goals/").content.decode()
