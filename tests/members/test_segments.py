"""Segments: the member filter parsed once and compiled to a workspace-scoped queryset; saved segments; the
list page with filters and counts; CSV export through the formula guard; roles and tenancy."""

from __future__ import annotations

import csv
import io

import pytest
from django.http import QueryDict
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.members import annotations
from communa.members.models import CustomField, Member, Segment
from communa.members.segments import InvalidFilter, filter_members, parse_filter
from communa.members.selectors import members_in_segment
from communa.members.services import refresh_activity
from tests.conftest import login
from tests.members.conftest import say

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(workspace: Workspace) -> dict[str, Member]:
    ana = say(
        workspace, "matrix:example.org", "@ana:example.org", handle="@ana:example.org", name="Ana Lima", language="pt"
    )
    ben = say(workspace, "discourse:forum", "7", handle="ben", name='=HYPERLINK("http://x")', language="en", minutes=3)
    say(workspace, "discourse:forum", "7", handle="ben", name='=HYPERLINK("http://x")', language="en", minutes=4)
    cy = say(workspace, "irc:libera.chat", "cy", handle="cy", name="Cy", language="it", minutes=5)
    refresh_activity(member_ids=Member.objects.values_list("id", flat=True))
    members = {k: Member.objects.get(pk=i.member_id) for k, i in {"ana": ana, "ben": ben, "cy": cy}.items()}
    annotations.add_tags(workspace=workspace, member=members["ana"], names=["beta", "speaker"], actor=None)
    annotations.add_tags(workspace=workspace, member=members["ben"], names=["beta"], actor=None)
    plan = annotations.define_field(
        workspace=workspace, label="Plan", kind="choice", choices=["free", "pro"], actor=None
    )
    seats = annotations.define_field(workspace=workspace, label="Seats", kind="number", actor=None)
    annotations.set_field_value(workspace=workspace, member=members["ana"], field=plan, raw="PRO", actor=None)
    annotations.set_field_value(workspace=workspace, member=members["ben"], field=plan, raw="free", actor=None)
    annotations.set_field_value(workspace=workspace, member=members["ana"], field=seats, raw="12", actor=None)
    Member.objects.filter(pk=members["cy"].pk).update(is_staff=True)
    return members


def names(workspace: Workspace, query: str) -> list[str]:
    flt = parse_filter(QueryDict(query))
    return sorted(m.display_name for m in filter_members(workspace=workspace, flt=flt))


def test_each_condition(workspace: Workspace, people: dict[str, Member]) -> None:
    ben = '=HYPERLINK("http://x")'
    assert names(workspace, "") == sorted(["Ana Lima", "Cy", ben])
    assert names(workspace, "tag=beta") == sorted(["Ana Lima", ben])
    assert names(workspace, "tag=beta&not_tag=speaker") == sorted([ben])
    assert names(workspace, "platform=irc:libera.chat&platform=matrix:example.org") == sorted(["Ana Lima", "Cy"])
    assert names(workspace, "language=IT") == sorted(["Cy"])
    assert names(workspace, "field=plan:eq:pro") == sorted(["Ana Lima"])
    assert names(workspace, "field=seats:gt:10") == sorted(["Ana Lima"])
    assert names(workspace, "field=seats:lt:10") == sorted([])
    assert names(workspace, "field=plan:unset") == sorted(["Cy"])
    assert names(workspace, "field=nosuch:set") == sorted([])  # an unknown field matches no one (fail closed)
    assert names(workspace, "staff=false") == sorted(["Ana Lima", ben])
    assert names(workspace, "min_messages=2") == sorted([ben])
    assert names(workspace, "q=ANA") == sorted(["Ana Lima"])
    assert names(workspace, "q=ben&tag=beta") == sorted([ben])
    assert names(workspace, "level=champion") == sorted([])  # no engagement row yet: no champion


def test_bad_filters_are_refused(workspace: Workspace) -> None:
    with pytest.raises(InvalidFilter):
        parse_filter(QueryDict("seen_within=-3"))
    with pytest.raises(InvalidFilter):
        parse_filter(QueryDict("field=plan;drop"))


def test_segments_are_workspace_scoped(
    workspace: Workspace, other_workspace: Workspace, people: dict[str, Member]
) -> None:
    segment = Segment.objects.create(workspace=workspace, name="Beta", filter={"tag": ["beta"]})
    assert sorted(m.pk for m in members_in_segment(workspace, segment)) == sorted([people["ana"].pk, people["ben"].pk])
    assert list(members_in_segment(other_workspace, segment)) == []


def test_list_page_filters_counts_and_saves_a_segment(client: Client, manager: User, people: dict[str, Member]) -> None:
    c = login(client, manager)
    html = c.get("/w/acme/members/", {"tag": "beta"}).content.decode()
    assert 'id="member-count">2 members' in html
    assert f'id="member-{people["ana"].pk}"' in html and f'id="member-{people["cy"].pk}"' not in html  # noqa: PT018
    response = c.post("/w/acme/members/segments/save/", {"filter": "tag=beta&staff=false", "name": "Beta testers"})
    segment = Segment.objects.get(name="Beta testers")
    assert segment.filter == {"tag": ["beta"], "staff": False}
    assert response.status_code == 302
    followed = c.get(f"/w/acme/members/?segment={segment.pk}")
    assert followed.status_code == 302 and "tag=beta" in followed["Location"]  # noqa: PT018


def test_analyst_reads_but_cannot_save_or_export(client: Client, analyst: User, people: dict[str, Member]) -> None:
    c = login(client, analyst)
    assert c.get("/w/acme/members/", {"tag": "beta"}).status_code == 200
    assert c.post("/w/acme/members/segments/save/", {"filter": "tag=beta", "name": "x"}).status_code == 403
    assert c.get("/w/acme/members/export.csv").status_code == 403
    assert Segment.objects.count() == 0


def test_csv_export_streams_guarded_cells(client: Client, manager: User, people: dict[str, Member]) -> None:
    c = login(client, manager)
    response = c.get("/w/acme/members/export.csv", {"tag": "beta"})
    assert response.status_code == 200 and response.streaming  # noqa: PT018
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == ["Ana Lima", '\'=HYPERLINK("http://x")']
    assert rows[0]["tags"] == "beta; speaker"
    assert rows[0]["field:plan"] == "pro" and rows[0]["field:seats"] == "12"  # noqa: PT018
    assert rows[0]["handle:matrix:example.org"] == "'@ana:example.org"  # "@" starts a formula too
    assert CustomField.objects.count() == 2
