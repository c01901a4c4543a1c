"""The demo community: deterministic, valid import rows, the mix a community manager expects, safe to rerun."""

from __future__ import annotations

import string
from collections import Counter
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from django.test import Client
from django.urls import reverse

from communa.accounts.models import Membership, User, Workspace
from communa.connectors.base import MessageKind
from communa.connectors.imports.schemas import ROW_FIELDS, ImportRow
from communa.connectors.models import Source
from communa.demo.generator import DemoCommunity, generate
from communa.demo.people import Role
from communa.demo.phrases import BANKS
from communa.demo.phrases.base import SLOTS, Bank
from communa.demo.services import DEMO_PASSWORD, SOURCES, WORKSPACE_SLUG, build_demo
from communa.ingest.models import RawEvent
from communa.members.models import Identity, Member
from communa.stream.models import Message, Thread

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SEED = 7


@pytest.fixture(scope="module")
def community() -> DemoCommunity:
    return generate(seed=SEED, now=NOW)


def all_rows(community: DemoCommunity) -> list[dict[str, Any]]:
    return [row for rows in community.rows.values() for row in rows]


# --- the generator (no database) ------------------------------------------------------------------


def test_the_same_seed_gives_identical_rows_and_another_seed_does_not(community: DemoCommunity) -> None:
    assert generate(seed=SEED, now=NOW).rows == community.rows
    assert generate(seed=SEED + 1, now=NOW).rows != community.rows


def test_history_moves_with_now_so_the_demo_always_ends_today(community: DemoCommunity) -> None:
    # Whole weeks, because weekends are busier: the same story lands on the same weekdays.
    later = generate(seed=SEED, now=NOW + timedelta(days=14))

    for key, rows in community.rows.items():
        shifted = later.rows[key]
        assert [r["text"] for r in shifted] == [r["text"] for r in rows]
        gaps = {
            datetime.fromisoformat(b["created_at"]) - datetime.fromisoformat(a["created_at"])
            for a, b in zip(rows, shifted, strict=True)
        }
        assert gaps == {timedelta(days=14)}


def test_rows_are_valid_import_rows_inside_the_window(community: DemoCommunity) -> None:
    for rows in community.rows.values():
        assert len({row["id"] for row in rows}) == len(rows)
        for row in rows:
            assert tuple(row) == ROW_FIELDS
            parsed = ImportRow.model_validate(row)
            assert NOW - timedelta(days=90) <= parsed.created_at <= NOW


def test_replies_point_at_earlier_messages_of_the_same_source(community: DemoCommunity) -> None:
    for rows in community.rows.values():
        seen: dict[str, dict[str, Any]] = {}
        for row in rows:
            for ref in (row["parent_id"], row["thread_id"]):
                assert not ref or ref in seen  # rows are oldest first, so a parent is always seen before
            seen[row["id"]] = row


def test_mix_of_kinds_languages_and_sources(community: DemoCommunity) -> None:
    rows = all_rows(community)
    kinds = Counter(row["kind"] for row in rows)
    languages = Counter(row["language"] for row in rows)

    assert 2500 <= len(rows) <= 5000
    assert set(community.rows) == {"forum", "matrix", "email", "irc", "bsky"}
    assert {"post", "comment", "chat", "email", "reaction", "join", "leave"} <= set(kinds)
    assert all(languages[lang] >= 200 for lang in ("en", "it", "es", "ru"))
    assert all(20 <= languages[lang] <= 200 for lang in ("fr", "de", "pt"))
    assert languages["en"] > languages["it"]
    # Joins, leaves and reactions carry no language: they are not text anyone wrote.
    assert languages[""] == kinds["reaction"] + kinds["join"] + kinds["leave"]


def test_ground_truth_covers_what_moderators_and_the_inbox_need(community: DemoCommunity) -> None:
    facts = community.facts
    recent = [q for q in facts.unanswered if NOW - q.at < timedelta(hours=48)]

    assert 200 <= len(facts.questions) <= 400
    assert 10 <= len(facts.unanswered) <= 50
    assert len(recent) >= 4
    assert len(facts.heated) == 3
    assert len(facts.identity_attacks) == 1
    assert facts.identity_attacks[0].text.startswith("Of course a woman")
    assert 8 <= len(facts.abuse) <= 15
    assert 20 <= len(facts.spam) <= 45
    assert len({post.text.removeprefix("@aurora.example ") for post in facts.spam}) <= 5  # the same text, again
    assert {post.author.role for post in facts.spam} == {Role.SPAMMER}


def test_peers_answer_more_and_more(community: DemoCommunity) -> None:
    def peer_share(first_day: int, last_day: int) -> float:
        def inside(post: Any) -> bool:
            return NOW - timedelta(days=90 - first_day) <= post.at < NOW - timedelta(days=90 - last_day)

        peers = sum(1 for post in community.facts.peer_answered if inside(post))
        staff = sum(1 for post in community.facts.staff_answered if inside(post))
        return peers / (peers + staff)

    assert peer_share(0, 30) < 0.4
    assert peer_share(60, 90) > 0.5


def test_launch_day_is_the_busiest_day(community: DemoCommunity) -> None:
    per_day = Counter((NOW - datetime.fromisoformat(row["created_at"])).days for row in all_rows(community))
    busiest, count = per_day.most_common(1)[0]

    assert busiest == 35  # int(90 * 0.6) days into the window
    assert count > 3 * (sum(per_day.values()) / 90)


def test_some_people_have_accounts_on_two_platforms(community: DemoCommunity) -> None:
    members = [p for p in community.people if p.role is Role.MEMBER]
    doubles = [p for p in members if len(p.accounts) == 2]
    shared_email = [p for p in doubles if set(p.accounts) == {"forum", "email"}]

    assert 0.1 <= len(doubles) / len(members) <= 0.3
    assert shared_email
    assert all(p.accounts["forum"].email == p.accounts["email"].email for p in shared_email)


@pytest.mark.parametrize("language", sorted(BANKS))
def test_every_template_formats_with_the_known_slots(language: str) -> None:
    values = dict.fromkeys(SLOTS, "x")
    for template in bank_templates(BANKS[language]):
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        assert used <= set(SLOTS), template
        template.format_map(values)  # raises on a malformed or unknown placeholder


def bank_templates(bank: Bank) -> list[str]:
    texts: list[str] = []
    for value in (getattr(bank, field) for field in bank.__slots__):
        texts += flatten(value)
    return texts


def flatten(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [text for item in value for text in flatten(item)]
    if hasattr(value, "__slots__"):
        return [text for field in value.__slots__ for text in flatten(getattr(value, field))]
    return []


# --- the command and the database -----------------------------------------------------------------


def run_demo(*args: str) -> str:
    out = StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


def snapshot(workspace: Workspace) -> dict[str, Any]:
    return {
        "messages": sorted(
            Message.objects.filter(workspace=workspace).values_list(
                "source__name",
                "external_id",
                "kind",
                "text",
                "language",
                "created_at",
                "thread__external_id",
                "parent__external_id",
            )
        ),
        "identities": sorted(Identity.objects.filter(workspace=workspace).values_list("platform", "external_id")),
        "members": Member.objects.filter(workspace=workspace).count(),
        "raw": RawEvent.objects.filter(source__workspace=workspace).count(),
    }


@pytest.mark.django_db
def test_demo_command_builds_the_community_and_prints_the_login() -> None:
    out = run_demo("--seed", str(SEED))

    workspace = Workspace.objects.get(slug=WORKSPACE_SLUG)
    assert workspace.name == "Aurora Coffee"
    assert "http://127.0.0.1:8000/" in out
    assert f"demo / {DEMO_PASSWORD}" in out
    roles = dict(Membership.objects.filter(workspace=workspace).values_list("user__username", "role"))
    assert roles == {"demo": "owner", "giulia": "manager", "lena": "volunteer", "priya": "analyst"}
    sources = {s.name: (s.kind, s.config) for s in Source.objects.filter(workspace=workspace)}
    assert sources == {spec.name: ("import", {"platform": spec.platform}) for spec in SOURCES}
    assert not RawEvent.objects.filter(source__workspace=workspace).exclude(error="").exists()
    assert not RawEvent.objects.filter(source__workspace=workspace, processed_at=None).exists()
    assert 300 <= Member.objects.filter(workspace=workspace).count() <= 500


@pytest.mark.django_db
def test_demo_database_has_member_to_member_answers_and_unanswered_questions() -> None:
    community = generate(seed=SEED, now=NOW)
    build_demo(seed=SEED, now=NOW)
    workspace = Workspace.objects.get(slug=WORKSPACE_SLUG)
    team = [
        (source_platform(post_source), account.author_id)
        for person in community.people
        if person.role is not Role.MEMBER
        for post_source, account in person.accounts.items()
    ]
    team_members = {
        m
        for p, e in team
        for m in Identity.objects.filter(platform=p, external_id=e).values_list("member_id", flat=True)
    }

    peer_threads = (
        Message.objects.filter(workspace=workspace, parent__isnull=False)
        .exclude(kind=MessageKind.REACTION)
        .exclude(member__in=team_members)
        .exclude(member=F("thread__root__member"))
        .exclude(thread__root__member__in=team_members)
        .values("thread")
        .distinct()
        .count()
    )
    assert peer_threads >= 100

    for question in community.facts.unanswered:
        thread = Thread.objects.get(workspace=workspace, external_id=question.external_id)
        assert Message.objects.filter(thread=thread).exclude(kind=MessageKind.REACTION).count() == 1
    answered = community.facts.peer_answered[0]
    assert Thread.objects.get(workspace=workspace, external_id=answered.external_id).message_count >= 2


def source_platform(key: str) -> str:
    return next(spec.platform for spec in SOURCES if spec.key == key)


@pytest.mark.django_db
def test_two_builds_with_the_same_seed_store_identical_rows() -> None:
    build_demo(seed=SEED, now=NOW)
    workspace = Workspace.objects.get(slug=WORKSPACE_SLUG)
    first = snapshot(workspace)

    build_demo(seed=SEED, now=NOW, reset=True)

    rebuilt = Workspace.objects.get(slug=WORKSPACE_SLUG)
    assert rebuilt.pk != workspace.pk
    assert snapshot(rebuilt) == first


@pytest.mark.django_db
def test_if_empty_is_a_no_op_the_second_time() -> None:
    run_demo("--if-empty", "--days", "30")
    workspace = Workspace.objects.get(slug=WORKSPACE_SLUG)
    before = snapshot(workspace)
    users = User.objects.count()

    out = run_demo("--if-empty", "--days", "30")

    assert "already there" in out
    assert f"demo / {DEMO_PASSWORD}" in out
    assert snapshot(workspace) == before
    assert User.objects.count() == users


@pytest.mark.django_db
def test_rebuilding_without_reset_is_refused_and_changes_nothing() -> None:
    run_demo("--days", "30")
    workspace = Workspace.objects.get(slug=WORKSPACE_SLUG)
    before = snapshot(workspace)

    with pytest.raises(CommandError, match="--reset"):
        run_demo("--days", "30")

    assert snapshot(workspace) == before


@pytest.mark.django_db
def test_bad_days_are_refused_before_anything_is_written() -> None:
    with pytest.raises(CommandError, match="between 14 and 365"):
        run_demo("--days", "3")
    assert not Workspace.objects.exists()
    assert not User.objects.exists()


@pytest.mark.django_db
def test_the_demo_login_works_and_opens_the_stream(client: Client) -> None:
    run_demo("--days", "30")

    assert client.login(username="demo", password=DEMO_PASSWORD)
    response = client.get(reverse("stream:index", kwargs={"workspace": WORKSPACE_SLUG}))
    assert response.status_code == 200
    assert client.login(username="lena", password=DEMO_PASSWORD)


@pytest.mark.django_db
def test_an_existing_demo_user_is_kept_as_it_is() -> None:
    User.objects.create_user(username="demo", email="me@example.org", password="my own password")

    run_demo("--days", "30")

    user = User.objects.get(username="demo")
    assert user.email == "me@example.org"
    assert user.check_password("my own password")
    assert Membership.objects.get(user=user, workspace__slug=WORKSPACE_SLUG).role == "owner"
