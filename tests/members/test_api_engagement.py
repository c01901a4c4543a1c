"""API for engagement and key people: a member's level and lifecycle explained, the key-people snapshot; roles,
tenancy, staff left out, merged members followed to a 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from communa.accounts.models import User, Workspace
from communa.members.engagement.keypeople import compute_key_people
from communa.members.models import Member
from communa.members.services import merge_members
from tests.members.engagement_helpers import NOW, ingest, member, process, row
from tests.members.test_api import get

pytestmark = pytest.mark.django_db
FORUM = "discourse:forum"


@pytest.fixture
def community(workspace: Workspace) -> dict[str, Member]:
    """Marta answers the questions of three askers, in Italian, over ten days."""
    rows = []
    at = NOW - timedelta(days=10)
    for i in range(12):
        asker = f"asker{i % 3}"
        rows.append(row(f"q{i}", asker, f"Domanda {i}?", at, language="it"))
        rows.append(row(f"a{i}", "marta", "Ecco", at + timedelta(minutes=5), thread=f"q{i}", parent=f"q{i}"))
        at += timedelta(hours=9)
    ingest(workspace, FORUM, rows)
    process(workspace, NOW)
    return {name: member(workspace, FORUM, name) for name in ("marta", "asker0", "asker1")}


def test_a_members_engagement_is_explained(
    client: Client, analyst: User, community: dict[str, Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timezone, "now", lambda: NOW)  # the score decays with time: read it at the fixture's "now"
    body = get(client, analyst, f"/members/{community['marta'].pk}/engagement").json()

    assert (body["member_id"], body["excluded"]) == (community["marta"].pk, False)
    engagement = body["engagement"]
    # Champion after a burst of answers; the score decays below 80 since, but levels are lost slowly.
    assert (engagement["level"], engagement["level_since"], engagement["score"]) == (
        "champion",
        "2026-11-15T15:05:00Z",
        70.0,
    )
    assert engagement["below_since"] is not None
    assert engagement["next_level"] is None
    assert (engagement["lifecycle"], engagement["first_active_at"]) == ("new", "2026-11-11T12:05:00Z")
    assert engagement["recent"] == {"helpful_reply": 12, "first_reply": 12}
    assert engagement["explanation"] == [
        "Champion since 15 Nov 2026: 12 helpful replies in 30 days; score 70, below 80 since then: the level is"
        " kept until 29 Nov 2026 unless the score recovers.",
        "First active 11 Nov 2026 (less than 30 days ago).",
    ]


def test_staff_are_left_out_and_merged_members_are_a_404(
    client: Client, manager: User, workspace: Workspace, community: dict[str, Member]
) -> None:
    Member.objects.filter(pk=community["asker0"].pk).update(is_staff=True)
    body = get(client, manager, f"/members/{community['asker0'].pk}/engagement").json()
    assert body == {"member_id": community["asker0"].pk, "excluded": True, "engagement": None}

    merge_members(workspace=workspace, into=community["marta"], merged=community["asker1"], actor=manager)
    assert get(client, manager, f"/members/{community['asker1'].pk}/engagement").status_code == 404


def test_key_people_from_the_latest_snapshot(
    client: Client, analyst: User, workspace: Workspace, community: dict[str, Member]
) -> None:
    assert get(client, analyst, "/members/key-people").json() == {
        "run": None,
        "categories": {"influencer": [], "champion": [], "rising": [], "bridge": []},
    }
    compute_key_people(workspace=workspace, now=NOW)

    body = get(client, analyst, "/members/key-people", category="influencer", limit=1).json()

    assert body["run"]["members"] == 4
    assert list(body["categories"]) == ["influencer"]
    [first] = body["categories"]["influencer"]
    assert (first["rank"], first["member_id"], first["display_name"]) == (1, community["marta"].pk, "Marta")
    helped = next(r for r in first["reasons"] if r["code"] == "helped")
    assert helped == {"code": "helped", "text": "Helped 3 people with answers.", "details": {"count": 3}}


def test_denied_paths_and_bad_input(
    client: Client, volunteer: User, outsider: User, analyst: User, community: dict[str, Member]
) -> None:
    marta = community["marta"].pk
    assert get(client, volunteer, f"/members/{marta}/engagement").status_code == 403
    assert get(client, volunteer, "/members/key-people").status_code == 403
    assert get(client, outsider, f"/members/{marta}/engagement").status_code == 404
    assert get(client, outsider, f"/members/{marta}/engagement", workspace="rival").status_code == 404
    assert get(client, outsider, "/members/key-people").status_code == 404
    bad = get(client, analyst, "/members/key-people", category="famous")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["msg"] == "Unknown category: famous."
    assert get(client, analyst, "/members/key-people", limit=1000).status_code == 422
