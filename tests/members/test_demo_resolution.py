"""Resolution on the demo community, against the ground truth its generator wrote: which accounts are one
person. About a fifth of the demo's members have two accounts sharing an email or a handle."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from communa.accounts.models import Workspace
from communa.demo.generator import generate
from communa.demo.services import SOURCES, build_demo
from communa.members.models import Identity, MergeSuggestion

pytestmark = pytest.mark.django_db

SEED, NOW, DAYS = 11, datetime(2026, 5, 1, 12, 0, tzinfo=UTC), 90


def true_pairs(workspace: Workspace) -> set[tuple[int, int]]:
    """Pairs of members (lower id first) whose identities are accounts of one demo person."""
    community = generate(seed=SEED, now=NOW, days=DAYS)
    platform = {source.key: source.platform for source in SOURCES}
    person_of = {
        (platform[key], account.author_id): person.key
        for person in community.people
        for key, account in person.accounts.items()
    }
    members_of: dict[int, set[int]] = {}
    for identity in Identity.objects.filter(workspace=workspace):
        assert identity.member_id is not None
        members_of.setdefault(person_of[(identity.platform, identity.external_id)], set()).add(identity.member_id)
    return {pair for members in members_of.values() for pair in itertools.combinations(sorted(members), 2)}


def test_the_command_suggests_the_demo_people_who_use_two_platforms() -> None:
    workspace = build_demo(seed=SEED, now=NOW, days=DAYS).workspace
    truth = true_pairs(workspace)
    assert len(truth) >= 40  # the demo gives a fifth of its members a second account

    out = StringIO()
    call_command("members", "suggest", "--workspace", "aurora", stdout=out)

    suggestions = list(MergeSuggestion.objects.filter(workspace=workspace))
    found = {(s.member_a_id, s.member_b_id) for s in suggestions}
    assert out.getvalue().startswith(f"aurora: {len(found)} suggestions, 0 automatic merges")
    correct = found & truth
    precision, recall = len(correct) / len(found), len(correct) / len(truth)
    assert precision >= 0.95, (precision, found - truth)
    assert recall >= 0.95, (recall, truth - found)
    # A shared email or handle is never wrong in the demo; the rare mistakes are two people with one name.
    strong = {(s.member_a_id, s.member_b_id) for s in suggestions if s.reasons[0]["code"] != "similar_name"}
    assert strong <= truth
    wrong = [s for s in suggestions if (s.member_a_id, s.member_b_id) not in truth]
    assert all([r["code"] for r in s.reasons] == ["similar_name"] and s.score == 0.6 for s in wrong)

    # Running it again changes nothing.
    call_command("members", "suggest", "--workspace", "aurora", stdout=StringIO())
    assert {(s.member_a_id, s.member_b_id, s.score) for s in MergeSuggestion.objects.all()} == {
        (s.member_a_id, s.member_b_id, s.score) for s in suggestions
    }
