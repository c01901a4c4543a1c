"""Computing the key people of a workspace into a snapshot (KeyPeopleRun + KeyPerson rows).

Runs periodically (events/periodic.py → tasks.key_people_due), never on a page view: the page reads the
latest snapshot. The reply network is read from ActivityEvent rows of the last NETWORK_DAYS, aggregated by
the database (one row per pair of members), so the work grows with the number of pairs who talked, not with
the number of messages. Betweenness, the expensive part, is bounded by node count, sampled sources and a
deadline; the run records when the network was cut.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from communa.accounts.models import Workspace
from communa.members.engagement import influence, scoring
from communa.members.engagement.models import (
    ActivityEvent,
    ActivityKind,
    KeyPeopleRun,
    KeyPerson,
    Level,
    MemberEngagement,
    MemberFacts,
)
from communa.members.models import Member

NETWORK_DAYS = 90
PER_CATEGORY = 20
BRIDGES = 12
MAX_EDGES = 2_000_000  # pairs read at most; beyond, the weakest ties of the window are left out
HELPFUL_KINDS = (ActivityKind.HELPFUL_REPLY, ActivityKind.ACCEPTED_ANSWER)
RISING_MIN_GROWTH = 10.0
KEEP_RUNS = 3


def _excluded(workspace: Workspace) -> set[int]:
    return set(
        Member.objects.filter(workspace=workspace)
        .filter(Q(is_staff=True) | Q(is_bot=True) | Q(merged_into__isnull=False))
        .values_list("id", flat=True)
    )


def _network(workspace: Workspace, since: datetime, excluded: set[int]) -> tuple[list[influence.Edge], bool]:
    pairs = (
        ActivityEvent.objects.filter(workspace=workspace, at__gte=since, counterpart__isnull=False)
        .exclude(kind__in=[ActivityKind.REACTION, ActivityKind.THANKED, ActivityKind.FIRST_REPLY])
        .values("member_id", "counterpart_id")
        .annotate(n=Count("id"), helpful=Count("id", filter=Q(kind__in=HELPFUL_KINDS)))
        .order_by("-n", "member_id", "counterpart_id")
    )
    edges = []
    for row in pairs[: MAX_EDGES + 1].iterator(chunk_size=10000):
        if row["member_id"] in excluded or row["counterpart_id"] in excluded:
            continue
        weight = row["n"] + 2.0 * row["helpful"]
        edges.append(influence.Edge(row["member_id"], row["counterpart_id"], weight, helpful=row["helpful"] > 0))
    return edges[:MAX_EDGES], len(edges) > MAX_EDGES


def _platforms(workspace: Workspace, since: datetime, members: set[int]) -> dict[int, set[str]]:
    reach: dict[int, set[str]] = defaultdict(set)
    rows = (
        ActivityEvent.objects.filter(workspace=workspace, at__gte=since)
        .exclude(platform="")
        .values_list("member_id", "platform")
        .distinct()
    )
    for member_id, platform in rows.iterator(chunk_size=10000):
        if member_id in members:
            reach[member_id].add(platform)
    return reach


def _groups(workspace: Workspace, members: set[int], reach: dict[int, set[str]]) -> dict[int, str]:
    """A member's group: their main language ("lang:it"), or their only platform when no language is known."""
    groups: dict[int, str] = {}
    rows = MemberFacts.objects.filter(workspace=workspace).exclude(main_language="")
    for member_id, language in rows.values_list("member_id", "main_language").iterator(chunk_size=10000):
        if member_id in members:
            groups[member_id] = f"lang:{language}"
    for member_id in members - groups.keys():
        if len(reach.get(member_id, ())) == 1:
            groups[member_id] = f"platform:{next(iter(reach[member_id]))}"
    return groups


def compute_key_people(
    *, workspace: Workspace, now: datetime | None = None, budget_seconds: float = 120.0
) -> KeyPeopleRun:
    """Rank the workspace's members by influence, and find champions, rising members and bridges."""
    now = now or timezone.now()
    started = time.monotonic()
    run = KeyPeopleRun.objects.create(workspace=workspace, started_at=now)
    since = now - timedelta(days=NETWORK_DAYS)
    excluded = _excluded(workspace)
    edges, truncated = _network(workspace, since, excluded)
    ranks = influence.pagerank(edges)
    members = set(ranks)
    ties = influence.neighbours(edges)
    reach = _platforms(workspace, since, members)
    groups = _groups(workspace, members, reach)
    deadline = started + budget_seconds * 0.8
    centrality = influence.betweenness(ties, deadline=deadline)
    truncated = truncated or len(ties) > influence.BETWEENNESS_NODES
    given = _helped(edges)
    people = [
        *_influencers(run, ranks, ties, given, reach, groups),
        *_champions(run, workspace, excluded),
        *_rising(run, workspace, excluded),
        *_bridges(run, ties, groups, centrality),
    ]
    with transaction.atomic():
        KeyPerson.objects.bulk_create(people, batch_size=500)
        run.finished_at = timezone.now()
        run.members, run.edges, run.truncated = len(members), len(edges), truncated
        run.seconds = round(time.monotonic() - started, 3)
        run.save(update_fields=["finished_at", "members", "edges", "truncated", "seconds"])
        old = KeyPeopleRun.objects.filter(workspace=workspace).order_by("-started_at", "-id")[KEEP_RUNS:]
        KeyPeopleRun.objects.filter(pk__in=[r.pk for r in old]).delete()
    return run


def _helped(edges: list[influence.Edge]) -> dict[int, dict[str, int]]:
    """member → {"helped": people they gave helpful replies to, "answered_by": people who replied to them}."""
    helped: dict[int, set[int]] = defaultdict(set)
    answered_by: dict[int, set[int]] = defaultdict(set)
    replies: Counter[int] = Counter()
    for e in edges:
        if e.helpful:
            helped[e.source].add(e.target)
        answered_by[e.target].add(e.source)
        replies[e.source] += int(e.weight)
    nodes = set(helped) | set(answered_by) | set(replies)
    return {n: {"helped": len(helped[n]), "answered_by": len(answered_by[n]), "replies": replies[n]} for n in nodes}


def _influencers(
    run: KeyPeopleRun,
    ranks: dict[int, float],
    ties: dict[int, Counter[int]],
    given: dict[int, dict[str, int]],
    reach: dict[int, set[str]],
    groups: dict[int, str],
) -> list[KeyPerson]:
    n = max(len(ranks), 1)
    scored = {m: r * n * (1.0 + 0.25 * (len(reach.get(m, ())) - 1)) for m, r in ranks.items()}
    top = sorted(scored, key=lambda m: (-scored[m], m))[:PER_CATEGORY]
    people = []
    for rank, member in enumerate(top, start=1):
        figures: dict[str, Any] = {
            "pagerank": round(ranks[member] * n, 2),
            **given.get(member, {}),
            "people": len(ties.get(member, ())),
            "platforms": sorted(reach.get(member, ())),
            "groups": sorted({groups[o] for o in ties.get(member, ()) if o in groups}),
        }
        reasons = [{"code": "pagerank", "value": figures["pagerank"]}]
        if figures.get("helped"):
            reasons.append({"code": "helped", "count": figures["helped"]})
        if figures.get("answered_by"):
            reasons.append({"code": "answered_by", "count": figures["answered_by"]})
        if len(figures["platforms"]) > 1:
            reasons.append({"code": "platforms", "platforms": figures["platforms"]})
        people.append(_person(run, member, KeyPerson.Category.INFLUENCER, rank, scored[member], figures, reasons))
    return people


def _person(
    run: KeyPeopleRun,
    member: int,
    category: str,
    rank: int,
    score: float,
    figures: dict[str, Any],
    reasons: list[dict[str, Any]],
) -> KeyPerson:
    return KeyPerson(
        workspace_id=run.workspace_id,
        run=run,
        member_id=member,
        category=category,
        rank=rank,
        score=round(score, 4),
        figures=figures,
        reasons=reasons,
    )


def _champions(run: KeyPeopleRun, workspace: Workspace, excluded: set[int]) -> list[KeyPerson]:
    rows = MemberEngagement.objects.filter(workspace=workspace, level=Level.CHAMPION).order_by("-score", "member_id")
    people: list[KeyPerson] = []
    for row in rows[: PER_CATEGORY + len(excluded)]:
        if row.member_id in excluded or len(people) >= PER_CATEGORY:
            continue
        figures = {"score": round(row.score, 1), "since": row.level_since.isoformat(), "recent": row.recent}
        reasons = [
            {"code": "champion", "score": round(row.score), "since": row.level_since.isoformat(), "recent": row.recent}
        ]
        people.append(
            _person(run, row.member_id, KeyPerson.Category.CHAMPION, len(people) + 1, row.score, figures, reasons)
        )
    return people


def _rising(run: KeyPeopleRun, workspace: Workspace, excluded: set[int]) -> list[KeyPerson]:
    """Biggest score growth over 30 days, among members who at least doubled and reached participant."""
    rows = MemberEngagement.objects.filter(
        workspace=workspace, score__gte=scoring.threshold(Level.PARTICIPANT)
    ).values_list("member_id", "score", "score_30d_ago", "recent")
    growth = []
    for member_id, score, before, recent in rows.iterator(chunk_size=10000):
        gained = score - before
        if member_id not in excluded and gained >= RISING_MIN_GROWTH and score >= 2 * before:
            growth.append((gained, member_id, score, before, recent))
    growth.sort(key=lambda g: (-g[0], g[1]))
    people = []
    for rank, (gained, member_id, score, before, recent) in enumerate(growth[:PER_CATEGORY], start=1):
        figures = {"score": round(score, 1), "before": round(before, 1), "recent": recent}
        reasons = [{"code": "rising", "before": round(before), "score": round(score)}]
        people.append(_person(run, member_id, KeyPerson.Category.RISING, rank, gained, figures, reasons))
    return people


def _bridges(
    run: KeyPeopleRun, ties: dict[int, Counter[int]], groups: dict[int, str], centrality: dict[int, float]
) -> list[KeyPerson]:
    people = []
    for rank, bridge in enumerate(influence.bridges(ties, groups, centrality)[:BRIDGES], start=1):
        figures = {"betweenness": round(bridge.betweenness, 4), "groups": [[g, c] for g, c in bridge.groups]}
        reasons = [{"code": "bridge", "groups": [[g, c] for g, c in bridge.groups]}]
        people.append(_person(run, bridge.member, KeyPerson.Category.BRIDGE, rank, bridge.score, figures, reasons))
    return people
