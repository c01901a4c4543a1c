"""Members API: list (search, platform, cursor), detail, suggestions, merge and undo; tenancy and roles."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.accounts.services import create_api_token
from communa.members.models import Identity, Member, MergeRecord, MergeSuggestion
from communa.members.services import generate_suggestions, refresh_activity
from tests.members.conftest import say

pytestmark = pytest.mark.django_db


def bearer(user: User) -> dict[str, str]:
    _token, plaintext = create_api_token(user=user, name="tests")
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def get(client: Client, user: User, url: str, **params: Any) -> Any:
    return client.get(f"/api/v1{url}", {"workspace": "acme", **params}, **bearer(user))


def post(client: Client, user: User, url: str, body: dict[str, Any] | None = None, slug: str = "acme") -> Any:
    return client.post(f"/api/v1{url}?workspace={slug}", body or {}, content_type="application/json", **bearer(user))


@pytest.fixture
def people(workspace: Workspace) -> dict[str, Member]:
    mxid = "@lucia_r:example.org"
    say(workspace, "matrix:example.org", mxid, handle=mxid, name="Lucía Romero", minutes=1, language="es")
    say(workspace, "irc:libera.chat", "lucia_r", handle="lucia_r", name="lucia_r", minutes=9, language="en")
    say(workspace, "discourse:forum", "7", handle="ben", name="Ben Okafor", minutes=5)
    refresh_activity(member_ids=Member.objects.values_list("id", flat=True))
    generate_suggestions(workspace=workspace)
    by_platform = {i.platform: Member.objects.get(pk=i.member_id) for i in Identity.objects.all()}
    return {
        "matrix": by_platform["matrix:example.org"],
        "irc": by_platform["irc:libera.chat"],
        "ben": by_platform["discourse:forum"],
    }


def test_list_search_filter_and_cursor(client: Client, analyst: User, people: dict[str, Member]) -> None:
    body = get(client, analyst, "/members", limit=2).json()
    assert [m["id"] for m in body["items"]] == [people["irc"].pk, people["ben"].pk]
    assert body["items"][0]["platforms"] == ["irc:libera.chat"]
    rest = get(client, analyst, "/members", limit=2, cursor=body["next_cursor"]).json()
    assert ([m["id"] for m in rest["items"]], rest["next_cursor"]) == ([people["matrix"].pk], None)
    assert [m["id"] for m in get(client, analyst, "/members", q="okafor").json()["items"]] == [people["ben"].pk]
    assert [m["id"] for m in get(client, analyst, "/members", platform="matrix:example.org").json()["items"]] == [
        people["matrix"].pk
    ]
    assert get(client, analyst, "/members", cursor="nonsense").status_code == 422
    assert get(client, analyst, "/members", sort="name").status_code == 422


def test_detail_with_identities(client: Client, analyst: User, people: dict[str, Member]) -> None:
    body = get(client, analyst, f"/members/{people['matrix'].pk}").json()
    assert body["display_name"] == "Lucía Romero"
    assert [(i["platform"], i["handle"]) for i in body["identities"]] == [
        ("matrix:example.org", "@lucia_r:example.org")
    ]
    assert (body["languages"], body["messages_per_platform"], body["message_count"]) == (
        {"es": 1},
        {"matrix:example.org": 1},
        1,
    )


def test_suggestions_merge_and_undo(client: Client, manager: User, people: dict[str, Member]) -> None:
    suggestions = get(client, manager, "/members/suggestions").json()
    assert suggestions["total"] == 1
    item = suggestions["items"][0]
    assert (item["member_a"]["id"], item["member_b"]["id"]) == (people["matrix"].pk, people["irc"].pk)
    assert [(r["code"], r["details"]["platforms"]) for r in item["reasons"]] == [
        ("same_handle", ["matrix:example.org", "irc:libera.chat"])
    ]

    response = post(client, manager, f"/members/{people['matrix'].pk}/merge", {"other": people["irc"].pk})
    assert response.status_code == 201
    merge = response.json()
    assert (merge["into"], merge["merged"], merge["identities"], merge["messages"]) == (
        people["matrix"].pk,
        people["irc"].pk,
        1,
        1,
    )
    assert MergeSuggestion.objects.get().status == "accepted"
    assert get(client, manager, f"/members/{people['irc'].pk}").status_code == 404  # merged away
    assert (
        post(client, manager, f"/members/{people['matrix'].pk}/merge", {"other": people["irc"].pk}).status_code == 409
    )

    undone = post(client, manager, f"/merges/{merge['id']}/undo")
    assert undone.status_code == 200
    assert undone.json()["undone_at"] is not None
    assert MergeSuggestion.objects.get().status == "pending"
    assert Identity.objects.get(platform="irc:libera.chat").member_id == people["irc"].pk
    assert post(client, manager, f"/merges/{merge['id']}/undo").status_code == 409


def test_roles_and_tenancy(
    client: Client, analyst: User, outsider: User, other_workspace: Workspace, people: dict[str, Member]
) -> None:
    merge_body = {"other": people["irc"].pk}
    assert get(client, analyst, "/members/suggestions").status_code == 403
    assert post(client, analyst, f"/members/{people['matrix'].pk}/merge", merge_body).status_code == 403
    assert get(client, outsider, "/members").status_code == 404
    assert get(client, outsider, f"/members/{people['ben'].pk}").status_code == 404
    # In their own workspace, our ids do not exist.
    stranger = say(other_workspace, "irc:libera.chat", "eve", handle="eve")
    assert (
        client.get(f"/api/v1/members/{people['ben'].pk}", {"workspace": "rival"}, **bearer(outsider)).status_code == 404
    )
    response = post(client, outsider, f"/members/{stranger.member_id}/merge", merge_body, slug="rival")
    assert response.status_code == 404
    assert MergeRecord.objects.count() == 0
    assert Identity.objects.get(platform="irc:libera.chat", workspace__slug="acme").member_id == people["irc"].pk
