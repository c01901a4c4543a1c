"""Analytics API: metric definitions and series, goals CRUD, reports list/snapshot/PDF; denied paths."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.accounts.services import create_api_token
from communa.analytics import rollups
from communa.analytics.models import Goal
from communa.analytics.reporting import services as reporting
from communa.connectors.models import Source
from tests.analytics.conftest import d, ingest, item, member, signal

pytestmark = pytest.mark.django_db


def auth(user: User) -> dict[str, str]:
    _token, plaintext = create_api_token(user=user, name="tests")
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


@pytest.fixture
def small(workspace: Workspace, fake_source: Source) -> Source:
    ids = ingest(
        fake_source,
        [
            item("a", "ana", d(2, 9)),
            item("b", "bob", d(2, 10), parent="a"),
            item("s", "sam", d(2, 11), parent="b"),
            item("q", "carl", d(3, 10)),
        ],
    )
    sam = member(workspace, "sam")
    sam.is_staff = True
    sam.save()
    signal(fake_source, "a", sentiment="negative")
    rollups.apply_batch(workspace=workspace, message_ids=ids)
    rollups.refresh_dirty(workspace=workspace)
    return fake_source


def test_metrics_list_says_which_have_data(client: Client, analyst: User, small: Source) -> None:
    response = client.get("/api/v1/analytics/metrics?workspace=acme", **auth(analyst))
    assert response.status_code == 200
    metrics = {m["key"]: m for m in response.json()}
    assert metrics["messages"]["available"] is True
    assert metrics["messages"]["definition"].startswith("Messages posted by members")
    assert metrics["first_response_median"]["available"] is False
    assert metrics["first_response_median"]["why_unavailable"].startswith("No inbox conversations yet")
    assert metrics["peer_answer_ratio"]["unit"] == "percent"


def test_series_exact_points_and_previous_period(client: Client, analyst: User, small: Source) -> None:
    response = client.get(
        "/api/v1/analytics/series?metric=messages&workspace=acme&since=2026-03-02&until=2026-03-04", **auth(analyst)
    )
    assert response.status_code == 200
    body = response.json()
    assert [(p["start"], p["value"]) for p in body["points"]] == [
        ("2026-03-02", 2.0),
        ("2026-03-03", 1.0),
        ("2026-03-04", 0.0),
    ]
    assert body["value"] == 3.0
    assert body["previous_value"] == 0.0
    assert [p["start"] for p in body["previous_points"]] == ["2026-02-27", "2026-02-28", "2026-03-01"]


def test_series_for_a_source_and_metric_without_data(client: Client, analyst: User, small: Source) -> None:
    days = "since=2026-03-02&until=2026-03-02"
    url = f"/api/v1/analytics/series?metric=messages&workspace=acme&{days}&source={small.pk + 99}"
    assert client.get(url, **auth(analyst)).json()["value"] == 0.0
    url = "/api/v1/analytics/series?metric=response_rate&workspace=acme&since=2026-03-02&until=2026-03-02"
    body = client.get(url, **auth(analyst)).json()
    assert (body["value"], body["points"]) == (None, [])


def test_series_bad_input(client: Client, analyst: User, small: Source) -> None:
    headers = auth(analyst)
    assert client.get("/api/v1/analytics/series?metric=nope&workspace=acme", **headers).status_code == 422
    response = client.get(
        "/api/v1/analytics/series?metric=messages&workspace=acme&since=2026-03-05&until=2026-03-01", **headers
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "since"]
    response = client.get("/api/v1/analytics/series?metric=threads&workspace=acme&granularity=hour", **headers)
    assert response.status_code == 422


def test_denied_paths(client: Client, volunteer: User, outsider: User, analyst: User, workspace: Workspace) -> None:
    assert client.get("/api/v1/analytics/metrics?workspace=acme", **auth(volunteer)).status_code == 403
    assert client.get("/api/v1/analytics/metrics?workspace=acme", **auth(outsider)).status_code == 404
    assert client.get("/api/v1/analytics/metrics?workspace=acme").status_code == 401
    body = {"name": "x", "metric": "messages", "comparison": "gte", "target": 10, "deadline": "2027-01-01"}
    response = client.post(
        "/api/v1/analytics/goals?workspace=acme", body, content_type="application/json", **auth(analyst)
    )
    assert response.status_code == 403
    assert not Goal.objects.exists()


def test_goals_crud(client: Client, manager: User, outsider: User, workspace: Workspace) -> None:
    headers = auth(manager)
    body = {
        "name": "Peer replies 40%",
        "metric": "peer_reply_share",
        "comparison": "gte",
        "target": 0.4,
        "deadline": "2027-01-01",
    }
    created = client.post("/api/v1/analytics/goals?workspace=acme", body, content_type="application/json", **headers)
    assert created.status_code == 201
    goal = created.json()
    assert (goal["name"], goal["metric"], goal["target"], goal["deadline"], goal["archived"]) == (
        "Peer replies 40%",
        "peer_reply_share",
        0.4,
        "2027-01-01",
        False,
    )
    url = f"/api/v1/analytics/goals/{goal['id']}?workspace=acme"
    patched = client.patch(url, {"target": 0.45}, content_type="application/json", **headers)
    assert patched.json()["target"] == 0.45
    assert [g["id"] for g in client.get("/api/v1/analytics/goals?workspace=acme", **headers).json()] == [goal["id"]]
    rival = auth(outsider)
    assert client.get(f"/api/v1/analytics/goals/{goal['id']}?workspace=rival", **rival).status_code == 404
    assert client.delete(f"/api/v1/analytics/goals/{goal['id']}?workspace=rival", **rival).status_code == 404
    assert client.delete(url, **headers).status_code == 204
    assert client.get("/api/v1/analytics/goals?workspace=acme", **headers).json() == []
    assert len(client.get("/api/v1/analytics/goals?workspace=acme&archived=true", **headers).json()) == 1
    bad = {**body, "metric": "spam_messages"}  # not a goal metric
    response = client.post("/api/v1/analytics/goals?workspace=acme", bad, content_type="application/json", **headers)
    assert response.status_code == 422
    assert Goal.objects.filter(workspace=workspace).count() == 1


def test_reports_list_snapshot_and_pdf(
    client: Client, analyst: User, outsider: User, workspace: Workspace, small: Source
) -> None:
    report = reporting.generate_report(
        workspace=workspace, period="weekly", start=date(2026, 3, 2), end=date(2026, 3, 8), language="en"
    )
    headers = auth(analyst)
    listed = client.get("/api/v1/analytics/reports?workspace=acme", **headers).json()
    assert [(r["id"], r["period"], r["start"], r["end"]) for r in listed] == [
        (report.pk, "weekly", "2026-03-02", "2026-03-08")
    ]
    detail = client.get(f"/api/v1/analytics/reports/{report.pk}?workspace=acme", **headers).json()
    assert {h["key"]: h["value"] for h in detail["data"]["headlines"]}["messages"] == 3.0
    pdf = client.get(f"/api/v1/analytics/reports/{report.pk}/pdf?workspace=acme", **headers)
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert client.get(f"/api/v1/analytics/reports/{report.pk}?workspace=rival", **auth(outsider)).status_code == 404
