"""Key people: influence in the reply network, bridges between language groups, rising members, the snapshot
page (fast, from the table), and who may see it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.members.engagement import influence
from communa.members.engagement.keypeople import compute_key_people
from communa.members.engagement.models import KeyPeopleRun, KeyPerson
from communa.members.models import Member
from tests.conftest import login
from tests.members.engagement_helpers import NOW, ingest, member, process, row

FORUM = "discourse:forum"


def test_pagerank_favours_who_helps_helpers() -> None:
    edges = [
        influence.Edge(2, 1, 1.0, helpful=True),  # 2 answered 1's question
        influence.Edge(3, 1, 1.0, helpful=True),
        influence.Edge(4, 2, 1.0, helpful=True),  # 4 answered 2, who helps others
        influence.Edge(5, 6, 1.0),
    ]
    ranks = influence.pagerank(edges)
    assert sum(ranks.values()) == pytest.approx(1.0)
    assert ranks[4] > ranks[3]  # helping someone who helps others counts more than helping a one-off asker
    assert ranks[2] > ranks[4]  # 2 helps and is worth helping: gratitude from 1, attention from 4
    assert ranks[5] < ranks[3]  # a plain reply earns less than a helpful one
    assert influence.pagerank([]) == {}


def test_betweenness_finds_the_member_between_two_groups() -> None:
    italian = [(a, b) for a in range(1, 5) for b in range(1, 5) if a < b]
    russian = [(a, b) for a in range(11, 15) for b in range(11, 15) if a < b]
    bridge = [(99, 1), (99, 2), (99, 11), (99, 12)]
    edges = [influence.Edge(a, b, 1.0) for a, b in italian + russian + bridge]
    ties = influence.neighbours(edges)
    centrality = influence.betweenness(ties)
    assert max(centrality, key=lambda n: centrality[n]) == 99
    groups = {n: "lang:it" for n in range(1, 5)} | {n: "lang:ru" for n in range(11, 15)}
    found = influence.bridges(ties, groups, centrality)
    assert [b.member for b in found] == [99]
    assert found[0].groups == [("lang:it", 2), ("lang:ru", 2)]


@pytest.fixture
def community(workspace: Workspace) -> dict[str, Member]:
    """Italian askers helped by Marta, Russian askers helped by Oleg, and Vera who answers in both."""
    rows = []
    at = NOW - timedelta(days=10)
    for i in range(6):
        for lang, asker, helper in (("it", f"it{i % 3}", "marta"), ("ru", f"ru{i % 3}", "oleg")):
            q = f"{lang}-q{i}"
            rows.append(row(q, asker, f"Domanda {i}?" if lang == "it" else f"Вопрос {i}?", at, language=lang))
            rows.append(
                row(
                    f"{q}-a",
                    helper,
                    "Ecco" if lang == "it" else "Вот",
                    at + timedelta(minutes=5),
                    thread=q,
                    parent=q,
                    language=lang,
                )
            )
            if i % 2 == 0:
                rows.append(
                    row(
                        f"{q}-v",
                        "vera",
                        "Anche così / Так тоже",
                        at + timedelta(minutes=9),
                        thread=q,
                        parent=q,
                        language=lang,
                    )
                )
            at += timedelta(hours=3)
    ingest(workspace, FORUM, rows)
    process(workspace, NOW)
    return {name: member(workspace, FORUM, name) for name in ("marta", "oleg", "vera", "it0")}


@pytest.mark.django_db
def test_a_snapshot_names_influencers_and_the_bridge(workspace: Workspace, community: dict[str, Member]) -> None:
    run = compute_key_people(workspace=workspace, now=NOW)
    assert run.finished_at is not None
    assert (run.members, run.truncated) == (9, False)
    people = KeyPerson.objects.filter(run=run)
    bridges = list(people.filter(category="bridge").order_by("rank").values_list("member_id", flat=True))
    assert bridges[0] == community["vera"].pk
    vera = people.get(category="bridge", member=community["vera"])
    assert sorted(g for g, _n in vera.reasons[0]["groups"]) == ["lang:it", "lang:ru"]
    top = list(people.filter(category="influencer").order_by("rank").values_list("member_id", flat=True))
    assert set(top[:3]) == {community["marta"].pk, community["oleg"].pk, community["vera"].pk}
    marta = people.get(category="influencer", member=community["marta"])
    assert (marta.figures["helped"], marta.figures["answered_by"]) == (3, 0)
    rising = set(people.filter(category="rising").values_list("member_id", flat=True))
    assert community["marta"].pk in rising  # from nothing 30 days ago to 42 now


@pytest.mark.django_db
def test_the_page_reads_the_snapshot_and_explains_each_person(
    client: Client, analyst: User, workspace: Workspace, community: dict[str, Member]
) -> None:
    c = login(client, analyst)
    empty = c.get("/w/acme/members/key-people/")
    assert "Not computed yet" in empty.content.decode()
    compute_key_people(workspace=workspace, now=NOW)
    html = c.get("/w/acme/members/key-people/").content.decode()
    assert f'id="key-bridge-{community["vera"].pk}"' in html
    assert "Italian speakers (" in html
    assert "Russian speakers (" in html
    assert "Helped 3 people with answers." in html


@pytest.mark.django_db
def test_key_people_denied_paths(
    client: Client, volunteer: User, outsider: User, workspace: Workspace, community: dict[str, Member]
) -> None:
    assert login(client, volunteer).get("/w/acme/members/key-people/").status_code == 403
    assert login(client, outsider).get("/w/acme/members/key-people/").status_code == 404
    assert not KeyPeopleRun.objects.exists()


@pytest.mark.django_db
def test_runs_are_kept_to_the_last_three(workspace: Workspace, community: dict[str, Member]) -> None:
    for hours in range(5):
        compute_key_people(workspace=workspace, now=NOW + timedelta(hours=hours))
    assert KeyPeopleRun.objects.filter(workspace=workspace).count() == 3
