"""Member pages: list (search, filter, sort, pages, constant queries), profile, suggestion queue, undo;
tenancy (another workspace's member is a 404) and roles (403 without the permission, nothing changed)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from communa.accounts.models import User, Workspace
from communa.members.models import Identity, Member, MergeRecord, MergeSuggestion
from communa.members.services import generate_suggestions, merge_members, refresh_activity
from tests.conftest import login
from tests.members.conftest import say

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(workspace: Workspace) -> dict[str, Member]:
    """Lucía on Matrix and IRC (one suggestion), Ben on the forum; all counters refreshed."""
    mxid = "@lucia_r:example.org"
    say(workspace, "matrix:example.org", mxid, handle=mxid, name="Lucía Romero", text="hola", minutes=1, language="es")
    say(
        workspace,
        "matrix:example.org",
        mxid,
        handle=mxid,
        name="Lucía Romero",
        text="qué tal",
        minutes=2,
        language="es",
    )
    say(
        workspace,
        "irc:libera.chat",
        "lucia_r",
        handle="lucia_r",
        name="lucia_r",
        text="hi all",
        minutes=9,
        language="en",
    )
    say(
        workspace, "discourse:forum", "7", handle="ben", name="Ben Okafor", text="<b>bold</b>", minutes=5, language="en"
    )
    refresh_activity(member_ids=Member.objects.values_list("id", flat=True))
    generate_suggestions(workspace=workspace)
    by_platform = {i.platform: Member.objects.get(pk=i.member_id) for i in Identity.objects.filter(workspace=workspace)}
    return {
        "matrix": by_platform["matrix:example.org"],
        "irc": by_platform["irc:libera.chat"],
        "ben": by_platform["discourse:forum"],
    }


def page(client: Client, path: str, **params: Any) -> str:
    response = client.get(f"/w/acme/members/{path}", params)
    assert response.status_code == 200
    return response.content.decode()


def names_in_order(html: str, members: dict[str, Member]) -> list[str]:
    positions = {key: html.find(f'id="member-{m.pk}"') for key, m in members.items()}
    return [key for key, at in sorted(positions.items(), key=lambda kv: kv[1]) if at >= 0]


def test_list_sorts_filters_and_searches(client: Client, analyst: User, people: dict[str, Member]) -> None:
    c = login(client, analyst)
    assert names_in_order(page(c, ""), people) == ["irc", "ben", "matrix"]  # last seen, newest first
    assert names_in_order(page(c, "", sort="messages"), people) == ["matrix", "ben", "irc"]
    assert names_in_order(page(c, "", platform="irc:libera.chat"), people) == ["irc"]
    assert names_in_order(page(c, "", q="romero"), people) == ["matrix"]
    assert names_in_order(page(c, "", q="LUCIA_R"), people) == ["irc", "matrix"]  # handle, case-insensitive
    assert "&lt;b&gt;bold&lt;/b&gt;" in page(c, f"{people['ben'].pk}/")  # platform text escaped


def test_first_seen_sort(client: Client, analyst: User, people: dict[str, Member]) -> None:
    assert names_in_order(page(login(client, analyst), "", sort="first_seen"), people) == ["irc", "ben", "matrix"]


def test_list_pages_with_a_cursor_and_constant_queries(
    client: Client, analyst: User, workspace: Workspace, people: dict[str, Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    from communa.members import manage_views as views  # the list (segments)

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    c = login(client, analyst)
    with CaptureQueriesContext(connection) as small:
        first = page(c, "")
    assert names_in_order(first, people) == ["irc", "ben"]
    cursor = first.split("cursor=")[1].split('"')[0]
    assert names_in_order(page(c, "", cursor=cursor), people) == ["matrix"]

    for n in range(6):
        say(workspace, "irc:libera.chat", f"extra{n}", handle=f"extra{n}", minutes=20 + n)
    monkeypatch.setattr(views, "PAGE_SIZE", 50)
    with CaptureQueriesContext(connection) as large:
        page(c, "")
    assert len(large.captured_queries) == len(small.captured_queries)


def test_profile_shows_identities_languages_timeline_and_links_to_the_stream(
    client: Client, analyst: User, owner: User, workspace: Workspace, people: dict[str, Member]
) -> None:
    merge_members(workspace=workspace, into=people["matrix"], merged=people["irc"], actor=owner)
    html = page(login(client, analyst), f"{people['matrix'].pk}/")
    assert "irc:libera.chat" in html
    assert "matrix:example.org" in html
    assert html.index("hi all") < html.index("qué tal") < html.index("hola")  # newest first, across platforms
    assert f"/w/acme/stream/?member={people['matrix'].pk}" in html
    assert "Spanish" in html
    assert "English" in html
    assert "Undo" not in html  # an analyst cannot undo


def test_a_merged_member_redirects_to_the_member_it_joined(
    client: Client, analyst: User, owner: User, workspace: Workspace, people: dict[str, Member]
) -> None:
    merge_members(workspace=workspace, into=people["matrix"], merged=people["irc"], actor=owner)
    response = login(client, analyst).get(f"/w/acme/members/{people['irc'].pk}/")
    assert response["Location"] == f"/w/acme/members/{people['matrix'].pk}/"


def test_accept_then_undo_through_the_pages(client: Client, manager: User, people: dict[str, Member]) -> None:
    c = login(client, manager)
    suggestion = MergeSuggestion.objects.get()
    html = page(c, "suggestions/")
    assert f'id="suggestion-{suggestion.pk}"' in html
    assert "Same handle on different platforms" in html

    response = c.post(f"/w/acme/members/suggestions/{suggestion.pk}/accept/")
    assert response.status_code == 302
    record = MergeRecord.objects.get()
    assert (record.into_id, record.merged_id, record.merged_by) == (people["matrix"].pk, people["irc"].pk, manager)
    assert f'id="suggestion-{suggestion.pk}"' not in page(c, "suggestions/")
    assert "Undo" in page(c, f"{people['matrix'].pk}/")

    response = c.post(f"/w/acme/members/merges/{record.pk}/undo/")
    assert response["Location"] == f"/w/acme/members/{people['irc'].pk}/"
    assert Identity.objects.get(platform="irc:libera.chat").member_id == people["irc"].pk
    assert MergeSuggestion.objects.get().status == "pending"


def test_reject_through_the_page(client: Client, owner: User, people: dict[str, Member]) -> None:
    c = login(client, owner)
    suggestion = MergeSuggestion.objects.get()
    c.post(f"/w/acme/members/suggestions/{suggestion.pk}/reject/")
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.decided_by) == ("rejected", owner)
    assert MergeRecord.objects.count() == 0


def test_roles_without_the_permission_get_403_and_change_nothing(
    client: Client, analyst: User, volunteer: User, owner: User, workspace: Workspace, people: dict[str, Member]
) -> None:
    suggestion = MergeSuggestion.objects.get()
    record = merge_members(workspace=workspace, into=people["ben"], merged=people["irc"], actor=owner)
    c = login(client, analyst)  # sees members, may not merge
    assert c.get("/w/acme/members/suggestions/").status_code == 403
    assert c.post(f"/w/acme/members/suggestions/{suggestion.pk}/accept/").status_code == 403
    assert c.post(f"/w/acme/members/merges/{record.pk}/undo/").status_code == 403
    v = login(Client(), volunteer)  # does not see member lists
    assert v.get("/w/acme/members/").status_code == 403
    assert v.get(f"/w/acme/members/{people['ben'].pk}/").status_code == 403
    suggestion.refresh_from_db()
    record.refresh_from_db()
    assert (suggestion.status, record.undone_at, MergeRecord.objects.count()) == ("pending", None, 1)


def test_another_workspace_sees_404_everywhere(
    client: Client,
    outsider: User,
    owner: User,
    workspace: Workspace,
    other_workspace: Workspace,
    people: dict[str, Member],
) -> None:
    suggestion = MergeSuggestion.objects.get()
    record = merge_members(workspace=workspace, into=people["ben"], merged=people["irc"], actor=owner)
    c = login(client, outsider)
    for path in ("", f"{people['ben'].pk}/", "suggestions/"):
        assert c.get(f"/w/acme/members/{path}").status_code == 404
    # Their own workspace's URLs with our ids: a miss, not a leak.
    assert c.get(f"/w/rival/members/{people['ben'].pk}/").status_code == 404
    assert c.post(f"/w/rival/members/suggestions/{suggestion.pk}/accept/").status_code == 404
    assert c.post(f"/w/rival/members/merges/{record.pk}/undo/").status_code == 404
    suggestion.refresh_from_db()
    assert (suggestion.status, MergeRecord.objects.get().undone_at) == ("pending", None)


def test_members_navigation_is_a_link_for_roles_that_see_members(
    client: Client, analyst: User, volunteer: User, workspace: Workspace
) -> None:
    assert 'href="/w/acme/members/"' in login(client, analyst).get("/w/acme/stream/").content.decode()
    assert 'href="/w/acme/members/"' not in login(Client(), volunteer).get("/w/acme/stream/").content.decode()
